#!/usr/bin/env bash
# Builds the Debian package of Pendata: dist/pendata_<version>-1_<arch>.deb.
#   bash packaging/build-deb.sh                    # x86-64 (amd64)
#   bash packaging/build-deb.sh --target aarch64   # arm64 tablets, cross-compiled with Debian's gcc-aarch64-linux-gnu
#   bash packaging/build-deb.sh --profile office   # the provincial office's build, for speed: dist/office/
#   bash packaging/build-deb.sh --profile NAME     # another cargo profile than `release`: dist/NAME/
# Installs what it needs first (apt packages, the rustup target, cargo-deb). Honours CARGO_TARGET_DIR.
set -euo pipefail
source "$(dirname "$0")/common.sh"

arch=x86_64
profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --target) arch="${2:?--target needs x86_64 or aarch64}"; shift 2 ;;
    --profile) profile="${2:?--profile needs a name}"; shift 2 ;;
    *) echo "usage: $0 [--target x86_64|aarch64] [--profile NAME]" >&2; exit 2 ;;
  esac
done

# Building needs pkg-config and the X11/fontconfig headers some -sys crates probe for (as CI's tests do).
need_apt pkg-config libx11-dev libfontconfig1-dev
command -v python3 >/dev/null 2>&1 || need_apt python3
case "$arch" in
  x86_64)
    triple=x86_64-unknown-linux-gnu
    ;;
  aarch64)
    triple=aarch64-unknown-linux-gnu
    # The cross compiler links, and builds the C parts (zstd); winit and glutin load X11, Wayland and
    # OpenGL at run time, so no arm64 libraries are needed beyond libc (libc6-dev-arm64-cross).
    need_apt gcc-aarch64-linux-gnu libc6-dev-arm64-cross
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
    export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
    export PKG_CONFIG_ALLOW_CROSS=1
    ;;
  *) echo "unknown target $arch: x86_64 or aarch64" >&2; exit 2 ;;
esac
need_rust_target "$triple"
need_cargo_deb

# The host's build goes where `cargo build --release` puts it (and reuses it); a cross build under its triple.
host=$(rustc -vV | sed -n 's/^host: //p')
if [ "$triple" = "$host" ]; then
  out="$TARGET_DIR/$profile"
  target_args=()
else
  out="$TARGET_DIR/$triple/$profile"
  target_args=(--target "$triple")
fi
# The tablets' package goes to dist/; a build with another profile (the office's) to dist/PROFILE/, so the
# two packages of one version never overwrite each other.
dist="$DIST"
[ "$profile" = release ] || dist="$DIST/$profile"
mkdir -p "$out" "$dist"
python3 "$ROOT/packaging/third-party.py" --target "$triple" >"$out/THIRD-PARTY-LICENSES.txt"

echo "== cargo deb ${target_args[*]} --profile $profile"
start=$(date +%s)
deb=$(cd "$ROOT" && cargo deb --locked "${target_args[@]}" --profile "$profile" --no-strip --output "$dist/" | tail -n 1)
echo "== built $deb in $(( $(date +%s) - start )) s"
ls -l "$out/pendata" "$deb"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'

# What every package must hold: the program, its menu entry and icon, the man page, the licences.
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/pendata ./usr/share/applications/pendata.desktop \
  ./usr/share/icons/hicolor/256x256/apps/pendata.png ./usr/share/icons/hicolor/scalable/apps/pendata.svg \
  ./usr/share/man/man1/pendata.1 ./usr/share/doc/pendata/copyright ./usr/share/doc/pendata/LICENSE \
  ./usr/share/doc/pendata/wilayah-data-README.md ./usr/share/doc/pendata/THIRD-PARTY-LICENSES.txt; do
  if ! grep -qxF "$f" <<<"$contents" && ! grep -qxF "$f.gz" <<<"$contents"; then
    echo "the package lacks $f" >&2
    exit 1
  fi
done
if grep -qE 'preinst|postinst|prerm|postrm' <<<"$(dpkg-deb --ctrl-tarfile "$deb" | tar -t)"; then
  echo "the package has maintainer scripts; check that none touches users' data directories" >&2
  exit 1
fi
echo "== $deb holds the program, desktop entry, icons, man pages and licences; no maintainer scripts"
