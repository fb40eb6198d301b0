#!/usr/bin/env bash
# The whole VIP-ANT method on a miniature world, through the real commands (docs/demo-world.md):
#   1. synthesise a world of coloured shapes with captions, and sounds tied to the shapes (never to captions)
#   2. index each split and compute log-mels and CLIP-ready pictures
#   3. train a tiny image-text CLIP on the captioned pictures, then an audio tower on the va clips' pictures
#   4. classify held-out sounds by text prompts (zero-shot) and rank them by text (retrieval): the visual pivot
# Deterministic for a given seed; needs Node.js 20 and ffmpeg.
# usage: examples/demo.sh [WORKDIR]   (default: a fresh temporary directory)
#   env: DEMO_SEED (0), DEMO_CLIPS scenes per concept and split (16), DEMO_CONCEPTS (8), DEMO_VA_FRAMES frames per va clip (1)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vipant="node $here/../bin/vipant.js"
work=${1:-$(mktemp -d -t vipant-demo-XXXX)}
mkdir -p "$work"
seed=${DEMO_SEED:-0}
clips=${DEMO_CLIPS:-16}
concepts=${DEMO_CONCEPTS:-8}
va_frames=${DEMO_VA_FRAMES:-1}
# 3 s sounds: 300 log-mel frames of 10 ms.
max_len=300
world=$work/world
started=$SECONDS
step() { printf '\n== %s (%d s so far)\n' "$*" $((SECONDS - started)); }

step "1. a synthetic world in $world: vipant synth"
rm -rf "$world"
$vipant synth "$world" --seed "$seed" --clips "$clips" --concepts "$concepts" --frames "$va_frames"
echo "what each concept looks and sounds like ($world/concepts.csv):"
cut -d, -f2- "$world/concepts.csv" | sed 's/,/ | /g; s/^/  /'

step "2. index each split and compute its tables: vipant fetch synth | vipant mel"
# image-text: the pictures and their captions (the mel column is there but no training step reads it).
$vipant fetch synth "$world" --split image-text | $vipant mel --frames 1 --max-len $max_len -o "$work/image-text.arrow"
# va: video-like clips, a sound and frames of the same scene; no captions.
$vipant fetch synth "$world" --split va | $vipant mel --frames "$va_frames" --max-len $max_len -o "$work/va.arrow"
# test: held-out sounds with their concept as class; only the log-mels are needed.
$vipant fetch synth "$world" --split test | $vipant mel --max-len $max_len -o "$work/test.arrow"
ls -lh "$work"/*.arrow | awk '{print "  " $NF ": " $5}'
echo "the va table:"
$vipant inspect "$work/va.arrow" | sed 's/^/  /'

# ============================================================================================
# TRAINING: placeholder, to be filled in when vipant pretrain --pair image-text / pretrain land.
# It must leave $clip (the tiny image-text CLIP), $model (the VA-trained audio tower, with the
# CLIP's text tower) and $control (the same audio tower without VA training) set, e.g.
#   step "3. a tiny CLIP learns the pictures from their captions: vipant pretrain --pair image-text"
#   $vipant pretrain "$work/image-text.arrow" --pair image-text --model tiny -o "$work/runs/clip" ...
#   clip=$work/runs/clip/checkpoints/step-N
#   step "4. VA: an audio tower learns to land where the CLIP puts the va pictures: vipant pretrain"
#   $vipant pretrain "$work/va.arrow" --init "$clip" -o "$work/runs/va" ...
#   model=$work/runs/va/checkpoints/step-N
#   control=...   # the audio tower as initialised, before VA training
# ============================================================================================

if [[ -z ${model:-} || -z ${control:-} ]]; then
  step "done: the world and its tables are in $work; training is not wired into the demo yet"
  exit 0
fi

step "5. zero-shot: held-out sounds classified by text prompts the audio tower never saw with a sound"
# Class "red_circle" reads "red circle"; the prompt makes it "a picture of red circle".
for tower in model control; do
  echo "-- $tower"
  $vipant embed "$work/test.arrow" --model "${!tower}" --clip "$clip" --raw | $vipant zeroshot --model "${!tower}" --clip "$clip" --prompt "a picture of"
done
echo "chance: 1/$concepts"

step "6. retrieval: the held-out sounds ranked by text"
$vipant embed "$work/test.arrow" --model "$model" --clip "$clip" -o "$work/test-emb.arrow"
$vipant retrieve "$work/test-emb.arrow" --model "$model" --clip "$clip" --query "a red circle" --query "a blue square" -k 5
step "done: everything is in $work"
