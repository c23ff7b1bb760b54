#!/usr/bin/env bash
# Figures of a release binary for BENCHMARKS.md ("Release build"): its size, and launch to the first frame
# under Xvfb with Mesa llvmpipe. eframe keeps the window unmapped until its first frame is painted, so
# "visible" is "first frame"; the window is polled every 10 ms (xdotool's own --sync polls every 0.5 s).
#   bash packaging/measure.sh BINARY [RUNS]
set -euo pipefail
source "$(dirname "$0")/common.sh"
bin=$(realpath "${1:?usage: measure.sh BINARY [RUNS]}")
runs=${2:-5}
need_apt xvfb xauth xdotool libgl1 libglx-mesa0 libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libxcursor1 libxi6 libxrandr2

echo "size: $(stat -c %s "$bin") bytes ($(numfmt --to=iec-i --suffix=B --format=%.1f "$(stat -c %s "$bin")"))"
data=$(mktemp -d)
display=${PENDATA_MEASURE_DISPLAY:-:93}
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true; rm -rf "$data"' EXIT
sleep 1
"$bin" --data-dir "$data" init --device-name "Measure 01" >/dev/null 2>&1
echo 2468 | "$bin" --data-dir "$data" petugas add --code P001 --name "Dewi Lestari" --pin-stdin >/dev/null
times=()
for _ in $(seq "$runs"); do
  start=$(date +%s%N)
  DISPLAY=$display "$bin" --data-dir "$data" &
  app=$!
  until DISPLAY=$display xdotool search --onlyvisible --name '^Pendata$' >/dev/null 2>&1; do
    sleep 0.01
    if [ $(( ($(date +%s%N) - start) / 1000000 )) -gt 20000 ]; then
      echo "no window after 20 s" >&2
      exit 1
    fi
  done
  times+=("$(( ($(date +%s%N) - start) / 1000000 ))")
  kill "$app"
  wait "$app" 2>/dev/null || true
done
echo "launch to first frame, ms: ${times[*]}"
