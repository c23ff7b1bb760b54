#!/usr/bin/env bash
# Cross-compiles Pendata for Windows x86-64 with Debian's mingw-w64 and packs it as
# dist/pendata-<version>-windows-x86_64.zip (pendata.exe, pendata-app.exe, README, licences).
#   bash packaging/build-windows.sh [--profile NAME]
# Installs what it needs first (mingw-w64, zip, the rustup target). Honours CARGO_TARGET_DIR.
set -euo pipefail
source "$(dirname "$0")/common.sh"

profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="${2:?--profile needs a name}"; shift 2 ;;
    *) echo "usage: $0 [--profile NAME]" >&2; exit 2 ;;
  esac
done

triple=x86_64-pc-windows-gnu
need_apt mingw-w64 zip
command -v python3 >/dev/null 2>&1 || need_apt python3
need_rust_target "$triple"

v=$(version)
out="$TARGET_DIR/$triple/$profile"
mkdir -p "$out" "$DIST"

# The icon and version block, compiled to an object the linker puts into the .exe.
IFS=. read -r major minor patch <<<"${v%%-*}"
x86_64-w64-mingw32-windres --input-format=rc --output-format=coff \
  -DPENDATA_VERSION="\\\"$v\\\"" -DPENDATA_VERSION_COMMAS="$major,$minor,$patch,0" \
  -I "$ROOT/packaging/windows" "$ROOT/packaging/windows/pendata.rc" -o "$out/pendata-res.o"

echo "== cargo rustc --target $triple --profile $profile"
start=$(date +%s)
# `cargo rustc` passes the resource object to the final link of the binary only.
(cd "$ROOT" && cargo rustc --locked --target "$triple" --profile "$profile" --bin pendata -- \
  -C link-arg="$out/pendata-res.o")
echo "== built in $(( $(date +%s) - start )) s"

# Only Windows' own DLLs may be needed: a mingw runtime DLL would be missing on a tablet.
dlls=$(x86_64-w64-mingw32-objdump -p "$out/pendata.exe" | sed -n 's/^\s*DLL Name: //p' | sort -u)
echo "== DLLs: $(echo $dlls)"
if echo "$dlls" | grep -qiE 'libgcc|libstdc|libwinpthread'; then
  echo "pendata.exe needs a mingw runtime DLL" >&2
  exit 1
fi

name="pendata-$v-windows-x86_64"
stage="$out/zip/$name"
rm -rf "$out/zip" && mkdir -p "$stage"
cp "$out/pendata.exe" "$stage/pendata.exe"
python3 "$ROOT/packaging/windows/gui-subsystem.py" "$out/pendata.exe" "$stage/pendata-app.exe"
# The console program, the GUI twin, and the icon and version resources in both.
grep -q '^Subsystem.*(Windows CUI)' <<<"$(x86_64-w64-mingw32-objdump -p "$stage/pendata.exe")"
grep -q '^Subsystem.*(Windows GUI)' <<<"$(x86_64-w64-mingw32-objdump -p "$stage/pendata-app.exe")"
grep -q '\.rsrc' <<<"$(x86_64-w64-mingw32-objdump -h "$stage/pendata-app.exe")"
cp "$ROOT/packaging/windows/README.txt" "$stage/README.txt"
cp "$ROOT/packaging/README.md" "$stage/INSTALL.md"
notices "$stage" "$triple"
mv "$stage/LICENSE" "$stage/LICENSE.txt"
rm -f "$DIST/$name.zip"
(cd "$out/zip" && zip -q -9 -r "$DIST/$name.zip" "$name")
ls -l "$out/pendata.exe" "$DIST/$name.zip"
