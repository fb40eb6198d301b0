#!/usr/bin/env bash
# Clotho audio-text retrieval with the paper's protocol on the evaluation split, for each length in
# MAX_LENS: 1000 frames is the paper's "10s" column, 1800 its "18s". Each clip has 5 captions, each prefixed
# "the sound of"; audio->text and text->audio R@1/5/10/50, median and mean rank, mAP@10, by cosine.
# Writes $OUT/clotho-<max_len>.json (the report) and $OUT/clotho-<max_len>-ranks.arrow (each query's rank).
#
#   DATA=~/data/clotho examples/retrieve-clotho.sh     # clotho_captions_evaluation.csv, evaluation/*.wav
#   MODEL=vipant-at-clotho18s MAX_LENS=1800 examples/retrieve-clotho.sh   # +AT w/ GC, 18 s
#
# Settings from the environment: DATA, MODEL (audio tower), CLIP (text tower), MAX_LENS, OUT, VIPANT.
set -euo pipefail
DATA=${DATA:-$HOME/data/clotho}
MODEL=${MODEL:-vipant-clotho}
CLIP=${CLIP:-clip-vit-b32}
MAX_LENS=${MAX_LENS:-1000 1800}
OUT=${OUT:-results}
# Without an installed vipant (npm link), the clone's own bin/vipant.js.
VIPANT=${VIPANT:-$(command -v vipant || echo "node $(cd "$(dirname "$0")/.." && pwd)/bin/vipant.js")}
mkdir -p "$OUT"
for len in $MAX_LENS; do
  $VIPANT retrieve --data clotho "$DATA" --model "$MODEL" --clip "$CLIP" --max-len "$len" \
    --predictions "$OUT/clotho-$len-ranks.arrow" --json > "$OUT/clotho-$len.json"
  echo "wrote $OUT/clotho-$len.json, $OUT/clotho-$len-ranks.arrow" >&2
done
