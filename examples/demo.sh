#!/usr/bin/env bash
# The main job on embedded defaults: synthesise clips, index them, compute VIP-ANT log-mels and
# CLIP-ready video frames, and describe the resulting table.
# usage: examples/demo.sh [WORKDIR]   (default: a fresh temporary directory)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vipant="node $here/../bin/vipant.js"
work=${1:-$(mktemp -d -t vipant-demo-XXXX)}
mkdir -p "$work"

echo "== 1. synthesising clips into $work/clips"
"$here/synth-clips.sh" "$work/clips"
ls -1 "$work/clips"

echo "== 2. vipant fetch folder | vipant mel --frames 2"
$vipant fetch folder "$work/clips" | $vipant mel --frames 2 -o "$work/mel.arrow"

echo "== 3. what the table holds: vipant inspect"
$vipant inspect "$work/mel.arrow"
