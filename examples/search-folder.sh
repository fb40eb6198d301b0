#!/usr/bin/env bash
# Search your own sound folder by free text. The first run indexes the folder (any audio or video files, in
# subfolders too), computes log-mels and audio embeddings and keeps them in $INDEX; every run then prints, for
# each query, the K closest clips by cosine similarity (id, path, score; a table on a terminal, JSON in a pipe).
#
#   DATA=~/Music/field-recordings examples/search-folder.sh "a dog barks" "rain on a tin roof"
#   K=20 examples/search-folder.sh "footsteps on gravel" > hits.json
#
# $INDEX is made in the current directory: delete it after adding files to the folder.
# Settings from the environment: DATA, MODEL (audio tower; by default the +AT AudioCaps release, trained on
# captions), CLIP (text tower), MAX_LEN, K, INDEX, VIPANT.
set -euo pipefail
DATA=${DATA:-$HOME/sounds}
MODEL=${MODEL:-vipant-at-audiocaps}
CLIP=${CLIP:-clip-vit-b32}
MAX_LEN=${MAX_LEN:-1000}
K=${K:-10}
INDEX=${INDEX:-$(basename "$DATA").vipant.arrow}
# Without an installed vipant (npm link), the clone's own bin/vipant.js.
VIPANT=${VIPANT:-$(command -v vipant || echo "node $(cd "$(dirname "$0")/.." && pwd)/bin/vipant.js")}
[ $# -gt 0 ] || set -- "a dog barks"
if [ ! -f "$INDEX" ]; then
  $VIPANT fetch folder "$DATA" \
    | $VIPANT mel --max-len "$MAX_LEN" \
    | $VIPANT embed --model "$MODEL" --clip "$CLIP" --tower audio -o "$INDEX"
fi
queries=()
for q in "$@"; do queries+=(--query "$q"); done
$VIPANT retrieve "$INDEX" "${queries[@]}" -k "$K" --model "$MODEL" --clip "$CLIP"
