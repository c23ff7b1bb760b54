# Shared by the packaging scripts (sourced, not run). Each script installs what it needs itself: a fresh
# machine has no cross targets, no cross linkers and no cargo-deb.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
DIST="$ROOT/dist"
# The cargo-deb release the scripts were tested with; --locked builds it from its own Cargo.lock.
CARGO_DEB_VERSION="3.8.0"

# The package version: the first `version = ` of Cargo.toml, the one in [package].
version() {
  sed -n 's/^version = "\([^"]*\)"$/\1/p' "$ROOT/Cargo.toml" | head -n 1
}

# Debian packages by name, installed only if missing (apt-get update once, only when something is missing).
need_apt() {
  local missing=()
  local p
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

need_rust_target() {
  if ! rustup target list --installed | grep -qx "$1"; then
    echo "== rustup target add $1"
    rustup target add "$1"
  fi
}

need_cargo_deb() {
  if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
    echo "== cargo install cargo-deb $CARGO_DEB_VERSION"
    cargo install --locked "cargo-deb@$CARGO_DEB_VERSION"
  fi
}

# The notices every package carries, written to $1 for the Rust target $2: the program's licence, the
# region data's MIT notice, and the licences of every crate linked into that target's binary.
notices() {
  local out="$1" triple="$2"
  mkdir -p "$out"
  cp "$ROOT/LICENSE" "$out/LICENSE"
  cp "$ROOT/schemas/data/README.md" "$out/wilayah-data-README.md"
  python3 "$ROOT/packaging/third-party.py" --target "$triple" >"$out/THIRD-PARTY-LICENSES.txt"
}
