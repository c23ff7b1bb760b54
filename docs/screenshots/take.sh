#!/usr/bin/env bash
# Runs the real app under Xvfb (Mesa llvmpipe) and saves screenshots of the main screens, in Indonesian
# and English, landscape (1280×800) and portrait (800×1280), into docs/screenshots/.
# Needs: xvfb xauth libgl1 libglx-mesa0 libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libxcursor1 libxi6
#        imagemagick xdotool   (apt-get install -y ...)
# Usage: bash docs/screenshots/take.sh [path/to/pendata]
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-target/release/pendata}
[ -x "$BIN" ] || cargo build --release
OUT=docs/screenshots
DATA=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$DATA"' EXIT

"$BIN" --data-dir "$DATA" init --device-name "Tablet Palaran 01" >/dev/null
echo 2468 | "$BIN" --data-dir "$DATA" petugas add --code P001 --name "Dewi Lestari" --pin-stdin >/dev/null
"$BIN" --data-dir "$DATA" demo --families 300 --seed 4 --petugas P001 >/dev/null

shoot() { # name
  sleep 1.5
  import -window root "$OUT/$1.png"
  echo "saved $OUT/$1.png"
}
click() { xdotool mousemove "$1" "$2" click 1; sleep 0.8; }
type_text() { xdotool type --delay 60 "$1"; sleep 0.5; }

run_session() { # width height suffix lang
  local W=$1 H=$2 S=$3 L=$4
  Xvfb :77 -screen 0 "${W}x${H}x24" -nolisten tcp &
  local XVFB=$!
  sleep 1
  export DISPLAY=:77
  PENDATA_LANG="$L" PENDATA_DATA_DIR="$DATA" "$BIN" &
  local APP=$!
  sleep 3
  local WID; WID=$(xdotool search --sync --name Pendata | head -1)
  xdotool windowsize "$WID" "$W" "$H"; xdotool windowmove "$WID" 0 0; xdotool windowfocus --sync "$WID" || true
  sleep 1
  shoot "signin-$L-$S"
  click 188 245                                     # PIN (the only petugas is preselected)
  type_text 2468; xdotool key Return
  shoot "home-$L-$S"
  click 84 297                                      # family list
  shoot "list-$L-$S"
  click 300 215                                     # the first family
  shoot "form-$L-$S"
  kill $APP; wait $APP 2>/dev/null || true
  kill $XVFB; wait $XVFB 2>/dev/null || true
}

run_session 1280 800 landscape id
run_session 1280 800 landscape en
run_session 800 1280 portrait id
run_session 800 1280 portrait en
