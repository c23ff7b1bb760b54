#!/usr/bin/env bash
# Runs the real app under Xvfb (Mesa llvmpipe) and saves screenshots of the main screens, in Indonesian
# and English, landscape (1280×800) and portrait (800×1280), and in Indonesian at 1920×1200 (fullhd), into
# docs/screenshots/.
# Needs: xvfb xauth libgl1 libglx-mesa0 libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libxcursor1 libxi6
#        imagemagick xdotool   (apt-get install -y ...)
# Usage: bash docs/screenshots/take.sh [path/to/pendata]   (ONLY=office: the office screens only;
#        SCREEN=N: X display :N instead of :77)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-target/release/pendata}
[ -x "$BIN" ] || cargo build --release
OUT=docs/screenshots
# The X display the app runs on: another number (SCREEN=93) when someone else's run uses this one.
SCREEN=${SCREEN:-77}
DATA=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$DATA"' EXIT

REG=$DATA/registry
STICK=""
if [ "${ONLY:-}" != office ]; then
TPL=$DATA/template
"$BIN" registry init "$REG" --demo --name "Dinas Sosial Provinsi Kalimantan Timur" >/dev/null 2>&1
"$BIN" --data-dir "$TPL" init --demo --device-name "Tablet Palaran 01" --registry-key "$REG/registry.pub" >/dev/null
echo 246810 | "$BIN" --data-dir "$TPL" petugas add --code P001 --name "Dewi Lestari" --pin-stdin >/dev/null
echo 246810 | "$BIN" --pin-stdin --data-dir "$TPL" demo --families 300 --seed 4 --petugas P001 >/dev/null

# The Export and Receipts screens want a USB stick: as root, a small loop-mounted file system under
# /media shows up as a removable drive. The families exported once went to the registry, which wrote a
# receipt onto the stick; 40 more families are then entered, so the Export screen has something to do.
if [ "$(id -u)" = 0 ] && command -v mkfs.ext4 >/dev/null && command -v losetup >/dev/null; then
  truncate -s 64M "$DATA/usb.img"
  mkfs.ext4 -q -L PENDATA "$DATA/usb.img"
  STICK=/media/pendata-shots/PENDATA
  mkdir -p "$STICK"
  if mount -o loop "$DATA/usb.img" "$STICK"; then
    trap 'kill $(jobs -p) 2>/dev/null || true; umount "$STICK" 2>/dev/null; rm -rf "$DATA"' EXIT
    mkdir -p "$DATA/first"
    echo 246810 | "$BIN" --pin-stdin --data-dir "$TPL" export --to "$DATA/first" --since-last >/dev/null 2>&1
    "$BIN" registry import "$REG" "$DATA/first" >/dev/null 2>&1 || true
    DEV=$("$BIN" registry devices "$REG" list 2>/dev/null | awk '/pending/ {print $1; exit}')
    "$BIN" registry devices "$REG" approve "$DEV" >/dev/null 2>&1
    "$BIN" registry receipt "$REG" --device "$DEV" --to "$STICK" >/dev/null 2>&1
    echo 246810 | "$BIN" --pin-stdin --data-dir "$TPL" demo --families 40 --seed 9 --petugas P001 >/dev/null
  else
    echo "no loop mount here: the Export and Receipts screens are skipped"; STICK=""
  fi
else
  echo "not root (or no mkfs.ext4/losetup): the Export and Receipts screens are skipped"
fi

# The photo picker wants a camera folder: generated pictures, taken an hour apart, two of them upright.
PHOTOS=$DATA/kamera/DCIM/100MEDIA
mkdir -p "$PHOTOS"
for i in 1 2 3 4 5 6 7 8; do
  SIZE=2000x1500; [ $((i % 3)) = 0 ] && SIZE=1500x2000
  F="$PHOTOS/IMG_20261129_000$i.jpg"
  convert -size "$SIZE" plasma:fractal -blur 0x3 -fill white -stroke black -strokewidth 3 -pointsize 130 \
    -gravity center -annotate 0 "Rumah $i" -quality 85 "$F"
  touch -d "2026-11-29 0$i:1$i" "$F"
done

fi

shoot() { # name
  sleep 1.5
  import -window root "$OUT/$1.png"
  # 128 colours: a third of the size, the text as sharp.
  convert "$OUT/$1.png" -strip -colors 128 "PNG8:$OUT/$1.png"
  echo "saved $OUT/$1.png"
}
click() { xdotool mousemove "$1" "$2" click 1; sleep 0.8; }
type_text() { xdotool type --delay 60 "$1"; sleep 0.5; }

run_session() { # width height suffix lang
  local W=$1 H=$2 S=$3 L=$4
  rm -rf "$DATA/tablet"; cp -a "$TPL" "$DATA/tablet"
  # The top bar is right-aligned: where "Beranda" / "Home" sits.
  local HOME_X; if [ "$L" = id ]; then HOME_X=$((W - 294)); else HOME_X=$((W - 268)); fi
  # Screens are a column of at most 1000 px in the middle; in portrait Home's status boxes take two rows.
  local OX=$(( W > 1000 ? (W - 1000) / 2 : 0 )) HY=$(( W < 900 ? 97 : 0 ))
  Xvfb ":$SCREEN" -screen 0 "${W}x${H}x24" -nolisten tcp &
  local XVFB=$!
  sleep 1
  export DISPLAY=":$SCREEN"
  PENDATA_LANG="$L" PENDATA_DATA_DIR="$DATA/tablet" PENDATA_PHOTO_DIR="$DATA/kamera/DCIM" "$BIN" &
  local APP=$!
  sleep 3
  local WID; WID=$(xdotool search --sync --name Pendata | head -1)
  xdotool windowsize "$WID" "$W" "$H"; xdotool windowmove "$WID" 0 0; xdotool windowfocus --sync "$WID" || true
  sleep 1
  shoot "signin-$L-$S"
  click $((OX + 188)) 245                           # PIN (the only petugas is preselected)
  type_text 246810; xdotool key Return
  shoot "home-$L-$S"
  click $((OX + 84)) $((HY + 300))                  # family list
  shoot "list-$L-$S"
  click $((OX + 300)) 307                           # the first family
  shoot "form-$L-$S"
  if [ "$L-$S" = id-landscape ]; then
    click "$HOME_X" 26                              # home
    click $((OX + 77)) $((HY + 242))                # a new family (the first one is final: read-only)
    click $((OX + 808)) 201                         # Block VI, notes and photos
    click $((OX + 127)) 551                         # choose the photo of the front of the house
    xdotool mousemove $((W - 60)) $((H - 30))
    sleep 4                                         # thumbnails are decoded in the background
    shoot "photos-$L-$S"
  fi
  if [ -n "$STICK" ]; then
    click "$HOME_X" 26                              # home
    click $((OX + 78)) $((HY + 358))                # export to USB
    shoot "export-$L-$S"
    click $((W / 2)) 506                            # export now
    sleep 2
    shoot "exported-$L-$S"
    click "$HOME_X" 26
    click $((OX + 55)) $((HY + 416))                # receipts
    click $((OX + 260)) 272                         # apply the receipt found on the stick
    shoot "receipts-$L-$S"
  fi
  kill $APP; wait $APP 2>/dev/null || true
  kill $XVFB; wait $XVFB 2>/dev/null || true
}

# The office app (`pendata office`): a registry with an operator, two approved tablets imported twice
# (so the dashboard has a change to show), families entered on both (the work queue's conflicts) and a
# third tablet's stick waiting to be imported.
office_data() {
  OREG=$DATA/office/registry
  export PENDATA_OFFICE_REGISTRIES=$DATA/office/known.txt PENDATA_OPERATOR_PASSPHRASE=rahasia-kantor-1
  mkdir -p "$DATA/office"
  "$BIN" registry init "$OREG" --demo --name "Dinas Sosial Provinsi Kalimantan Timur" >/dev/null 2>&1
  for t in 1 2 3; do
    local T=$DATA/office/tab$t
    "$BIN" --data-dir "$T" init --demo --device-name "Tablet Palaran 0$t" --registry-key "$OREG/registry.pub" >/dev/null 2>&1
    echo 246810 | "$BIN" --data-dir "$T" petugas add --code "P00$t" --name "Petugas $t" --pin-stdin >/dev/null 2>&1
    echo 246810 | "$BIN" --pin-stdin --data-dir "$T" demo --families $((150 * t)) --seed $t --petugas "P00$t" >/dev/null 2>&1
    mkdir -p "$DATA/office/stick$t"
    echo 246810 | "$BIN" --pin-stdin --data-dir "$T" export --to "$DATA/office/stick$t" --since-last >/dev/null 2>&1
  done
  "$BIN" registry import "$OREG" "$DATA/office/stick1" "$DATA/office/stick2" >/dev/null 2>&1 || true
  for d in $("$BIN" registry devices "$OREG" list 2>/dev/null | awk '/pending/ {print $1}'); do
    "$BIN" registry devices "$OREG" approve "$d" >/dev/null 2>&1
  done
  echo rahasia-kantor-1 | "$BIN" registry operator "$OREG" add --name "Sari Wulandari" --role supervisor --passphrase-stdin >/dev/null 2>&1
  for t in 1 2; do
    echo 246810 | "$BIN" --pin-stdin --data-dir "$DATA/office/tab$t" demo --families 60 --seed 1$t --petugas "P00$t" >/dev/null 2>&1
    mkdir -p "$DATA/office/more$t"
    echo 246810 | "$BIN" --pin-stdin --data-dir "$DATA/office/tab$t" export --to "$DATA/office/more$t" --since-last >/dev/null 2>&1
    "$BIN" registry --operator "Sari Wulandari" import "$OREG" "$DATA/office/more$t" >/dev/null 2>&1 || true
  done
  # Something in the work queue: the second tablet enters again eight of the families the first one just
  # sent (the same seed makes the same families: the same KK and NIKs under other record ids).
  echo 246810 | "$BIN" --pin-stdin --data-dir "$DATA/office/tab2" demo --families 8 --seed 11 --petugas P002 >/dev/null 2>&1
  mkdir -p "$DATA/office/again2"
  echo 246810 | "$BIN" --pin-stdin --data-dir "$DATA/office/tab2" export --to "$DATA/office/again2" --since-last >/dev/null 2>&1
  "$BIN" registry --operator "Sari Wulandari" import "$OREG" "$DATA/office/again2" >/dev/null 2>&1 || true
}

office_session() { # width height suffix lang
  local W=$1 H=$2 S=$3 L=$4
  rm -rf "$DATA/office/run"; cp -a "$OREG" "$DATA/office/run"
  Xvfb ":$SCREEN" -screen 0 "${W}x${H}x24" -nolisten tcp &
  local XVFB=$!
  sleep 1
  export DISPLAY=":$SCREEN"
  PENDATA_LANG="$L" "$BIN" office "$DATA/office/run" &
  local APP=$!
  sleep 3
  local WID; WID=$(xdotool search --sync --name Pendata | head -1)
  xdotool windowsize "$WID" "$W" "$H"; xdotool windowmove "$WID" 0 0; xdotool windowfocus --sync "$WID" || true
  sleep 1
  local FX=$(( (W - 520) / 2 + 210 ))               # the sign-in fields, in a column in the middle
  click "$FX" 196; type_text "Sari Wulandari"
  click "$FX" 285; type_text "rahasia-kantor-1"
  shoot "office-signin-$L-$S"
  xdotool key Return; sleep 2
  xdotool mousemove $((W - 30)) $((H - 20))           # no chart tooltip
  shoot "office-dashboard-$L-$S"
  click 95 145                                     # Import
  click 408 284; type_text "$DATA/office/stick3"
  click 280 342; sleep 2                            # Import from folder
  shoot "office-import-$L-$S"
  click 95 203; sleep 1                            # Devices
  click 333 203                                     # the tablet waiting for approval
  shoot "office-devices-$L-$S"
  click 95 435                                     # Reports
  shoot "office-reports-$L-$S"
  click 95 493                                     # Work packages
  shoot "office-packages-$L-$S"
  click 95 261                                     # Work queue
  click 400 283                                    # its first item: two tablets' versions of a family
  xdotool mousemove $((W - 30)) $((H - 20))
  shoot "office-queue-$L-$S"
  click 95 319; sleep 1                            # Families
  click 700 156; type_text "Nugroho"; sleep 1       # a search by name
  xdotool mousemove $((W - 30)) $((H - 20))
  shoot "office-families-$L-$S"
  click 700 214; sleep 1                           # the first family found: its page
  xdotool mousemove $((W - 30)) $((H - 20))
  shoot "office-family-$L-$S"
  kill $APP; wait $APP 2>/dev/null || true
  kill $XVFB; wait $XVFB 2>/dev/null || true
}

if [ "${ONLY:-}" != office ]; then
  run_session 1280 800 landscape id
  run_session 1280 800 landscape en
  run_session 800 1280 portrait id
  run_session 800 1280 portrait en
  run_session 1920 1200 fullhd id
fi
office_data
office_session 1280 800 landscape id
office_session 1280 800 landscape en
office_session 1920 1080 fullhd id
