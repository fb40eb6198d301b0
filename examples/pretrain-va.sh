#!/usr/bin/env bash
# VA pre-training: the audio tower starts from CLIP's image tower and learns to land where
# CLIP's frozen image tower puts the clip's video frames. The training table (log-mels plus FRAMES frames per
# clip) is made once into $TRAIN; the run goes to $RUN (checkpoints/, metrics.jsonl, train.yaml, report.svg) and
# picks up where it stopped when run again (after a preemption, or with a larger --steps).
#
#   DATA=~/data/audioset examples/pretrain-va.sh        # VIP-ANT's download layout (vipant fetch audioset --help)
#   TRAIN_FLAGS="--steps 5000 --holdout 5184" examples/pretrain-va.sh
#
# The command's defaults are the paper's (LARS, batch 432, 10 warm-up epochs); that needs a GPU
# (tfjs-node-gpu). Settings from the environment: DATASET, DATA, INIT (a CLIP), FRAMES, MAX_LEN, TRAIN, RUN,
# TRAIN_FLAGS (extra flags for vipant pretrain), VIPANT.
set -euo pipefail
DATASET=${DATASET:-audioset}
DATA=${DATA:-$HOME/data/audioset}
INIT=${INIT:-clip-vit-b32}
FRAMES=${FRAMES:-4}
MAX_LEN=${MAX_LEN:-1000}
TRAIN=${TRAIN:-audioset-va.arrow}
RUN=${RUN:-runs/va}
# Without an installed vipant (npm link), the clone's own bin/vipant.js.
VIPANT=${VIPANT:-$(command -v vipant || echo "node $(cd "$(dirname "$0")/.." && pwd)/bin/vipant.js")}
[ -f "$TRAIN" ] || $VIPANT fetch "$DATASET" "$DATA" | $VIPANT mel --frames "$FRAMES" --max-len "$MAX_LEN" -o "$TRAIN"
resume=
[ ! -d "$RUN/checkpoints" ] || resume=--resume
# shellcheck disable=SC2086 # $resume and TRAIN_FLAGS are word lists
$VIPANT pretrain "$TRAIN" --init "$INIT" -o "$RUN" $resume ${TRAIN_FLAGS:-}
$VIPANT report "$RUN"
