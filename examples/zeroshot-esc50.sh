#!/usr/bin/env bash
# Zero-shot ESC-50 classification with the paper's protocol: each class is the text "the sound of
# <class>", a clip gets the class with the highest raw dot product, accuracy is pooled over the 5 folds.
# Writes $OUT/esc50.json (the report: accuracy, top-5, per fold, per class, confusion, checkpoints' sha256),
# $OUT/esc50-predictions.arrow (each clip's prediction and scores) and $OUT/esc50-confusion.svg.
#
#   DATA=~/data/ESC-50 examples/zeroshot-esc50.sh      # the official layout: meta/esc50.csv, audio/*.wav
#   MODEL=vipant-at examples/zeroshot-esc50.sh         # the +AT w/ GC row of the paper's table
#
# Settings from the environment: DATA, MODEL (audio tower), CLIP (text tower), MAX_LEN, OUT, VIPANT.
set -euo pipefail
DATA=${DATA:-$HOME/data/ESC-50}
MODEL=${MODEL:-vipant-esc50}
CLIP=${CLIP:-clip-vit-b32}
MAX_LEN=${MAX_LEN:-1000}
OUT=${OUT:-results}
# Without an installed vipant (npm link), the clone's own bin/vipant.js.
VIPANT=${VIPANT:-$(command -v vipant || echo "node $(cd "$(dirname "$0")/.." && pwd)/bin/vipant.js")}
mkdir -p "$OUT"
$VIPANT zeroshot --data esc50 "$DATA" --model "$MODEL" --clip "$CLIP" --max-len "$MAX_LEN" \
  --predictions "$OUT/esc50-predictions.arrow" --plot "$OUT/esc50-confusion.svg" --json > "$OUT/esc50.json"
echo "wrote $OUT/esc50.json, $OUT/esc50-predictions.arrow, $OUT/esc50-confusion.svg" >&2
