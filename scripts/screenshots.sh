#!/usr/bin/env bash
# Opens the desktop app in a virtual X display, walks through a short flow (generate the
# synthetic world, analyse and sweep its vocabulary, train for a few seconds, describe a model,
# generate) and saves a screenshot of each page, plus the frame times measured while a job ran.
#
#   scripts/screenshots.sh [OUT_DIR]        (needs xvfb, xdotool, x11-apps, imagemagick)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$(realpath -m "${1:-$root/target/screenshots}")"
mkdir -p "$out"
bin="${BEYOND_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/beyond}"
[ -x "$bin" ] || { echo "$bin: not built (cargo build, or set BEYOND_BIN)" >&2; exit 1; }
fixture="$root/tests/fixtures/tiny-llama-a"
work="$(mktemp -d)"
display=":$((90 + RANDOM % 9))"

Xvfb "$display" -screen 0 1280x800x24 >/dev/null 2>&1 &
xvfb=$!
cleanup() { kill "$app" "$xvfb" 2>/dev/null || true; rm -rf "$work"; }
export DISPLAY="$display"
sleep 1

cd "$work"
# A fresh settings folder, so the app opens on its defaults.
export XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config" HOME="$work"
export BEYOND_FRAME_TIMES="$out/frame-times.json"
"$bin" gui --model "$fixture" >"$out/app.log" 2>&1 &
app=$!
trap cleanup EXIT
sleep 5

shot() { xwd -root -silent | convert xwd:- -crop 1100x720+0+0 "$out/$1.png"; }
click() { xdotool mousemove "$1" "$2" click 1; sleep "${3:-1}"; }
page() { click 40 "$1" 1; }   # the page list on the left

shot model
page 86; click 248 113 8; shot start                 # Start: generate the world
page 109; shot study                                  # Study: the shipped RQ1 and its grid
page 178; click 207 139 4; click 220 556 20; shot vocabulary
page 201; shot train-form                             # Train: the base recipe's settings
click 383 107 15; shot train-running                  # Start: live curves
click 530 107 5; shot train-stopped                   # Stop: a checkpoint is saved
page 86; shot start-runs                              # Start: the pipeline and the run
page 247; click 212 139 4; shot playground           # Playground: the model given with --model
page 155; shot microscope
# The app must still be running: no page panicked on the way.
kill -0 "$app" 2>/dev/null || { echo "the app exited early:" >&2; cat "$out/app.log" >&2; exit 1; }
for name in model start study vocabulary train-form train-running train-stopped start-runs playground microscope; do
  [ -s "$out/$name.png" ] || { echo "no screenshot $name.png" >&2; exit 1; }
done
echo "screenshots in $out"; cat "$out/frame-times.json"; echo
