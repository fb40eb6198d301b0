#!/usr/bin/env bash
# VIP-ANT's curated captions: caption video clips from their frames, with no audio-text pairs.
# A pool of captions goes through CLIP's text tower once ($POOL); each clip's FRAMES frames go through CLIP's
# image tower, and each frame picks the K pool captions closest to it. $OUT/curated.arrow keeps the clips'
# log-mels and gets "captions" and "caption_scores": what AT fine-tuning trains on
# (TRAIN=$OUT/curated.arrow examples/finetune-at.sh). $OUT/curate.json summarises the run.
#
#   DATA=~/data/audioset CAPTIONS=captions.txt examples/curate-captions.sh    # one caption per line
#   DATASET=folder DATA=~/videos POOL=audiocaps-pool.arrow examples/curate-captions.sh
#
# A ready pool, AudioCaps' training captions: vipant fetch audiocaps ~/data/audiocaps --split train
#   | vipant embed --model clip-vit-b32 --tower text -o audiocaps-pool.arrow
# Settings from the environment: DATASET, DATA, CAPTIONS, POOL, CLIP, FRAMES, K, MAX_LEN, OUT, VIPANT.
set -euo pipefail
DATASET=${DATASET:-audioset}
DATA=${DATA:-$HOME/data/audioset}
CAPTIONS=${CAPTIONS:-captions.txt}
CLIP=${CLIP:-clip-vit-b32}
FRAMES=${FRAMES:-4}
K=${K:-10}
MAX_LEN=${MAX_LEN:-1000}
OUT=${OUT:-results}
POOL=${POOL:-$OUT/pool.arrow}
# Without an installed vipant (npm link), the clone's own bin/vipant.js.
VIPANT=${VIPANT:-$(command -v vipant || echo "node $(cd "$(dirname "$0")/.." && pwd)/bin/vipant.js")}
mkdir -p "$OUT"
[ -f "$POOL" ] || $VIPANT embed --model "$CLIP" --text-file "$CAPTIONS" -o "$POOL"
$VIPANT fetch "$DATASET" "$DATA" \
  | $VIPANT mel --frames "$FRAMES" --max-len "$MAX_LEN" \
  | $VIPANT embed --model "$CLIP" --tower image \
  | $VIPANT curate --pool "$POOL" -k "$K" -o "$OUT/curated.arrow" --json > "$OUT/curate.json"
echo "wrote $OUT/curated.arrow, $OUT/curate.json" >&2
