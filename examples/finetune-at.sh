#!/usr/bin/env bash
# AT fine-tuning: the VA audio tower learns from AudioCaps' captions against CLIP's frozen
# text tower (batch 64, LARS), evaluated on the validation clips as it trains; then the last checkpoint is
# evaluated on the test split with the paper's retrieval protocol. The tables are made once into $TRAIN and $VAL
# (set TRAIN=curated.arrow to train on curated captions, examples/curate-captions.sh). The run goes to $RUN
# (checkpoints/, metrics.jsonl, report.svg, audiocaps-test.json) and picks up where it stopped when run again.
#
#   DATA=~/data/audiocaps examples/finetune-at.sh      # train/val/test CSVs and the clips (vipant fetch --help)
#   TRAIN_FLAGS="--random-captions" RUN=runs/rc examples/finetune-at.sh      # the RC control
#
# Settings from the environment: DATA, INIT (VA audio tower), CLIP (text tower), BATCH, MAX_LEN, TRAIN, VAL,
# RUN, TRAIN_FLAGS (extra flags for vipant finetune), VIPANT.
set -euo pipefail
DATA=${DATA:-$HOME/data/audiocaps}
INIT=${INIT:-vipant-va}
CLIP=${CLIP:-clip-vit-b32}
BATCH=${BATCH:-64}
MAX_LEN=${MAX_LEN:-1000}
TRAIN=${TRAIN:-audiocaps-train.arrow}
VAL=${VAL:-audiocaps-val.arrow}
RUN=${RUN:-runs/at}
# Without an installed vipant (npm link), the clone's own bin/vipant.js.
VIPANT=${VIPANT:-$(command -v vipant || echo "node $(cd "$(dirname "$0")/.." && pwd)/bin/vipant.js")}
[ -f "$TRAIN" ] || $VIPANT fetch audiocaps "$DATA" --split train | $VIPANT mel --max-len "$MAX_LEN" -o "$TRAIN"
[ -f "$VAL" ] || $VIPANT fetch audiocaps "$DATA" --split val | $VIPANT mel --max-len "$MAX_LEN" -o "$VAL"
resume=
[ ! -d "$RUN/checkpoints" ] || resume=--resume
# shellcheck disable=SC2086 # $resume and TRAIN_FLAGS are word lists
$VIPANT finetune "$TRAIN" --init "$INIT" --clip "$CLIP" --val "$VAL" --batch-size "$BATCH" -o "$RUN" $resume ${TRAIN_FLAGS:-}
$VIPANT report "$RUN"
checkpoints=("$RUN"/checkpoints/step-*)   # step-<8 digits>: the last is the latest
last=${checkpoints[${#checkpoints[@]}-1]}
$VIPANT retrieve --data audiocaps "$DATA" --split test --model "$last" --clip "$CLIP" --max-len "$MAX_LEN" \
  --json > "$RUN/audiocaps-test.json"
echo "wrote $RUN/audiocaps-test.json ($last)" >&2
