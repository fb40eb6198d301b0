#!/usr/bin/python3
"""Reference side of bench/mel.ts: torchaudio.load + kaldi.fbank with VIP-ANT's parameters, on one thread.

Protocol on stdin/stdout, one JSON object per output line, so that the caller can interleave its own passes with
these and both see the same machine load:
  stdin: clip paths, one per line, then an empty line. This script makes one untimed warm-up pass and prints
         {"clips": n, "audio_s": seconds of audio, "torch": ..., "torchaudio": ...}.
  stdin: "run" -> one timed pass over all clips, printed as {"run_s": seconds}. End of input ends the script.
"""
import json
import sys
import time

import torch
import torchaudio
import torchaudio.compliance.kaldi as kaldi

# docs/method.md §3.4, as in scripts/fixtures/fbank.py.
VIPANT_FBANK = dict(htk_compat=True, use_energy=False, window_type="hanning", num_mel_bins=128, dither=0.0, frame_shift=10)


def one_pass(paths):
    audio_s = 0.0
    for path in paths:
        waveform, sr = torchaudio.load(path, normalize=True)
        kaldi.fbank(waveform, sample_frequency=sr, **VIPANT_FBANK)
        audio_s += waveform.shape[1] / sr
    return audio_s


def reply(obj):
    print(json.dumps(obj), flush=True)


def main():
    torch.set_num_threads(1)
    paths = []
    for line in sys.stdin:
        if not line.strip():
            break
        paths.append(line.rstrip("\n"))
    audio_s = one_pass(paths)
    reply({"clips": len(paths), "audio_s": audio_s, "torch": torch.__version__, "torchaudio": torchaudio.__version__})
    for line in sys.stdin:
        if line.strip() != "run":
            raise SystemExit(f"unknown command {line.strip()!r}")
        start = time.perf_counter()
        one_pass(paths)
        reply({"run_s": time.perf_counter() - start})


if __name__ == "__main__":
    main()
