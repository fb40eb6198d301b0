#!/usr/bin/env bash
# Synthesises a small folder of clips vipant may ship and process anywhere: tones, a chirp, noise bursts
# and a rhythm at 16-48 kHz, in WAV, MP3, FLAC and a short video with a test pattern. Deterministic.
# usage: examples/synth-clips.sh DIR
set -euo pipefail
dir=${1:?usage: synth-clips.sh DIR}
mkdir -p "$dir"
ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }
ff -f lavfi -i "sine=frequency=440:sample_rate=16000:duration=3" "$dir/tone-a4-16k.wav"
ff -f lavfi -i "sine=frequency=1000:sample_rate=48000:duration=6" -ac 2 "$dir/tone-1k-48k-stereo.wav"
ff -f lavfi -i "aevalsrc='sin(2*PI*(200+600*t)*t)':s=22050:d=4" "$dir/chirp-22k.flac"
ff -f lavfi -i "anoisesrc=color=pink:seed=1213:sample_rate=44100:duration=12:amplitude=0.3" "$dir/pink-noise-12s-44k.mp3"
ff -f lavfi -i "aevalsrc='0.8*sin(2*PI*150*t)*exp(-30*mod(t,0.5))':s=44100:d=5" "$dir/drum-rhythm-44k.wav"
ff -f lavfi -i "testsrc2=size=320x240:rate=25:duration=4" -f lavfi -i "sine=frequency=660:sample_rate=48000:duration=4" \
  -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest "$dir/test-pattern.mp4"
