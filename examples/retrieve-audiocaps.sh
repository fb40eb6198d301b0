#!/usr/bin/env bash
# AudioCaps audio-text retrieval with the paper's protocol on the test split: 5 captions per clip,
# each prefixed "the sound of"; audio->text and text->audio R@1/5/10/50, median and mean rank, mAP@10, by cosine.
# AudioCaps lives on YouTube, so some clips are always gone: the report counts the clips listed, evaluated and
# missing. Writes $OUT/audiocaps.json (the report) and $OUT/audiocaps-ranks.arrow (each query's rank).
#
#   vipant fetch audiocaps ~/data/audiocaps --download --split test -o audiocaps-test.arrow   # the clips, once
#   DATA=~/data/audiocaps examples/retrieve-audiocaps.sh
#   MODEL=vipant-at-audiocaps examples/retrieve-audiocaps.sh   # +AT w/ GC
#
# Settings from the environment: DATA, MODEL (audio tower), CLIP (text tower), SPLIT, MAX_LEN, OUT, VIPANT.
set -euo pipefail
DATA=${DATA:-$HOME/data/audiocaps}
MODEL=${MODEL:-vipant-audiocaps}
CLIP=${CLIP:-clip-vit-b32}
SPLIT=${SPLIT:-test}
MAX_LEN=${MAX_LEN:-1000}
OUT=${OUT:-results}
# Without an installed vipant (npm link), the clone's own bin/vipant.js.
VIPANT=${VIPANT:-$(command -v vipant || echo "node $(cd "$(dirname "$0")/.." && pwd)/bin/vipant.js")}
mkdir -p "$OUT"
$VIPANT retrieve --data audiocaps "$DATA" --split "$SPLIT" --model "$MODEL" --clip "$CLIP" --max-len "$MAX_LEN" \
  --predictions "$OUT/audiocaps-ranks.arrow" --json > "$OUT/audiocaps.json"
echo "wrote $OUT/audiocaps.json, $OUT/audiocaps-ranks.arrow" >&2
