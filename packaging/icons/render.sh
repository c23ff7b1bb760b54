#!/usr/bin/env bash
# Renders pendata.svg to the PNG sizes desktops use (hicolor theme), and pendata.ico for Windows.
# The outputs are committed, so packaging never needs the converters; run this after editing the SVG.
set -euo pipefail
source "$(dirname "$0")/../common.sh"
need_apt librsvg2-bin imagemagick
cd "$ROOT/packaging/icons"
for s in 16 32 48 64 128 256 512; do
  mkdir -p "hicolor/${s}x${s}/apps"
  rsvg-convert -w "$s" -h "$s" pendata.svg -o "hicolor/${s}x${s}/apps/pendata.png"
done
# Windows wants 16, 32, 48 and 256 in one .ico.
convert hicolor/16x16/apps/pendata.png hicolor/32x32/apps/pendata.png hicolor/48x48/apps/pendata.png \
  hicolor/256x256/apps/pendata.png pendata.ico
ls -l hicolor/*/apps/pendata.png pendata.ico
