#!/usr/bin/env bash
# The whole VIP-ANT method on a miniature world, through the real commands (docs/demo-world.md):
#   1. synthesise a world of coloured shapes with captions, and sounds tied to the shapes (never to captions)
#   2. index each split and compute log-mels and CLIP-ready pictures
#   3. train a tiny image-text CLIP on the captioned pictures, then an audio tower on the va clips' pictures
#   4. classify held-out sounds by text prompts (zero-shot) and rank them by text (retrieval): the visual pivot
# Deterministic for a given seed; needs Node.js 20 and ffmpeg.
# usage: examples/demo.sh [WORKDIR]   (default: a fresh temporary directory)
#   env: DEMO_SEED (0), DEMO_CLIPS scenes per concept and split (16), DEMO_CONCEPTS (8), DEMO_VA_FRAMES frames per va clip (1),
#        DEMO_BATCH clips per training step (32), DEMO_CLIP_STEPS (100) and DEMO_VA_STEPS (160) training steps
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
# Training: clips per step, and steps of the image-text CLIP and of VA.
batch=${DEMO_BATCH:-32}
clip_steps=${DEMO_CLIP_STEPS:-100}
va_steps=${DEMO_VA_STEPS:-160}
world=$work/world
started=$SECONDS
step() { printf '\n== %s (%d s so far)\n' "$*" $((SECONDS - started)); }
# A run's last checkpoint.
latest() { ls -d "$1"/checkpoints/step-* | tail -n 1; }

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

step "3. a tiny CLIP learns the pictures from their captions: vipant pretrain --pair image-text"
# Both towers train (the only step that reads captions); the va pictures, never trained on, measure it: zero-shot
# by "a picture of <class>" prompts.
$vipant pretrain "$work/image-text.arrow" --pair image-text --model tiny --seed "$seed" -o "$work/runs/clip" \
  --batch-size $batch --steps $clip_steps --optimizer adam --lr 3e-4 --warmup-epochs 1 \
  --val "$work/va.arrow" --eval-every $clip_steps --keep 1
clip=$(latest "$work/runs/clip")

step "4. VA: an audio tower starts from the CLIP's image tower and learns to land where the CLIP puts the va pictures"
# The image tower stays frozen; no caption is read. The control is the same audio tower as VA training starts it
# (docs/method.md §5.4: the image tower's weights, positions resized to the audio grid), untrained: --steps 0.
$vipant pretrain "$work/va.arrow" --init "$clip" --seed "$seed" -o "$work/runs/va" \
  --batch-size $batch --steps $va_steps --optimizer adam --lr 5e-4 --warmup-epochs 1 --time-mask 30 --freq-mask 16 --keep 1
model=$(latest "$work/runs/va")
$vipant pretrain "$work/va.arrow" --init "$clip" --seed "$seed" -o "$work/runs/control" --steps 0
control=$(latest "$work/runs/control")

step "5. zero-shot: held-out sounds classified by text prompts the audio tower never saw with a sound"
# Class "red_circle" reads "red circle"; the prompt makes it "a picture of red circle". The text tower is the CLIP's.
for tower in model control; do
  $vipant embed "$work/test.arrow" --model "${!tower}" --clip "$clip" --raw | tee "$work/test-$tower.arrow" |
    $vipant zeroshot --model "${!tower}" --clip "$clip" --prompt "a picture of" --json > "$work/zeroshot-$tower.json"
done

step "6. retrieval: the held-out sounds ranked by text"
# Queries: the first three concepts' phrases, as a caption would put them ("a red circle", "a picture of a blue square", ...).
mapfile -t phrases < <(tail -n +2 "$world/concepts.csv" | head -n 3 | cut -d, -f3)
queries=("${phrases[0]}" "a picture of ${phrases[1]}" "${phrases[2]} on a black background")
$vipant retrieve "$work/test-model.arrow" --model "$model" --clip "$clip" -k 5 --json \
  "${queries[@]/#/--query=}" > "$work/retrieve.json"

step "summary"
node - "$work" "$concepts" $((SECONDS - started)) <<'JS'
const [work, concepts, seconds] = process.argv.slice(2)
const read = (name) => JSON.parse(require('node:fs').readFileSync(`${work}/${name}`, 'utf8'))
const pct = (x) => `${(100 * x).toFixed(1)} %`
const [pivot, control] = [read('zeroshot-model.json'), read('zeroshot-control.json')]
console.log(`zero-shot accuracy on ${pivot.clips.evaluated} held-out sounds, ${concepts} classes, by text prompts:`)
const row = (label, x) => console.log(`  ${`${label}:`.padEnd(39)}${pct(x)}`)
row('visual pivot (VA-trained audio tower)', pivot.accuracy)
row('control (the same tower untrained)', control.accuracy)
row(`chance (1/${concepts})`, 1 / concepts)
// A sound is a match when its class's words are all in the query ("blue_square" in "a picture of a blue square").
for (const {query, results} of read('retrieve.json')) {
  const classes = results.map((r) => r.id.replace(/^test\/|-\d+$/g, ''))
  const matches = classes.filter((c) => c.split('_').every((w) => query.split(' ').includes(w))).length
  console.log(`top ${results.length} sounds for "${query}": ${classes.join(', ')} (${matches} of ${results.length} match)`)
}
console.log(`wall time: ${seconds} s`)
JS
step "done: everything is in $work"
