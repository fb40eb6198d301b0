#!/usr/bin/env bash
# Zero-shot UrbanSound8K classification with the paper's protocol, as a pipeline that keeps the
# embeddings: index, log-mels and raw (unnormalised) audio embeddings go to $OUT/us8k-emb.arrow once; then
# "vipant zeroshot" scores "the sound of <class>" by raw dot product, accuracy pooled over the 10 folds.
# Other prompts (--prompts FILE, --cosine) can then be tried on the table without embedding the audio again.
# Writes $OUT/us8k-emb.arrow, $OUT/us8k.json (the report) and $OUT/us8k-predictions.arrow.
#
#   DATA=~/data/UrbanSound8K examples/zeroshot-us8k.sh   # metadata/UrbanSound8K.csv, audio/fold*/*.wav
#   MODEL=vipant-at examples/zeroshot-us8k.sh            # the +AT w/ GC row of the paper's table
#
# Every clip is scored against all 10 classes, whichever clips are on disk.
# Settings from the environment: DATA, MODEL (audio tower), CLIP (text tower), MAX_LEN, OUT, VIPANT.
set -euo pipefail
DATA=${DATA:-$HOME/data/UrbanSound8K}
MODEL=${MODEL:-vipant-us8k}
CLIP=${CLIP:-clip-vit-b32}
MAX_LEN=${MAX_LEN:-1000}
OUT=${OUT:-results}
# Without an installed vipant (npm link), the clone's own bin/vipant.js.
VIPANT=${VIPANT:-$(command -v vipant || echo "node $(cd "$(dirname "$0")/.." && pwd)/bin/vipant.js")}
mkdir -p "$OUT"
$VIPANT fetch us8k "$DATA" \
  | $VIPANT mel --max-len "$MAX_LEN" \
  | $VIPANT embed --model "$MODEL" --clip "$CLIP" --tower audio --raw -o "$OUT/us8k-emb.arrow"
$VIPANT zeroshot "$OUT/us8k-emb.arrow" --model "$MODEL" --clip "$CLIP" \
  --predictions "$OUT/us8k-predictions.arrow" --json > "$OUT/us8k.json"
echo "wrote $OUT/us8k-emb.arrow, $OUT/us8k.json, $OUT/us8k-predictions.arrow" >&2
