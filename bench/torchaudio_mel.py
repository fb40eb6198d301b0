#!/usr/bin/python3
"""Reference side of the whole-command comparison in bench/mel.ts: what `vipant mel DIR -o OUT` does, as a plain
Python loop a user of torchaudio would write, run as its own process so that its start-up (import torch) counts.

For each *.wav in DIR (sorted): torchaudio.load, the evaluation crop to max_len frames plus 50 ms (centre, falling
back to the head or tail when the centre is much quieter), the waveform mean removed, kaldi.fbank with VIP-ANT's
parameters on channel 0, truncation to max_len frames, zero padding, then (x - mean) / std. The float32 features are
written to OUT, as vipant writes its table.

usage: torchaudio_mel.py DIR OUT [MAX_LEN]
"""
import os
import sys

import torch
import torchaudio
import torchaudio.compliance.kaldi as kaldi

# docs/method.md §3.4 (the same dictionary as bench/torchaudio_fbank.py).
VIPANT_FBANK = dict(htk_compat=True, use_energy=False, window_type="hanning", num_mel_bins=128, dither=0.0, frame_shift=10)
NORMS = (-4.93839311, 5.75751113)


def centre_crop(x, length):
    """VIP-ANT's evaluation crop (docs/method.md §3.2)."""
    n = x.shape[-1]
    if n <= length:
        return x
    left = int(round(0.5 * (n - length)))
    half_std = x.std() * 0.5
    cropped = x[..., left:left + length]
    new_std = cropped.std()
    if new_std < half_std:
        cropped = x[..., :length]
    if half_std > new_std > cropped.std():
        cropped = x[..., -length:]
    return cropped


def log_mel(path, max_len):
    waveform, sr = torchaudio.load(path)
    waveform = centre_crop(waveform, int((max_len / 100 + 0.05) * sr))
    waveform = waveform - waveform.mean()
    fbank = kaldi.fbank(waveform[:1], sample_frequency=sr, **VIPANT_FBANK)[:max_len]
    padded = torch.nn.functional.pad(fbank, (0, 0, 0, max_len - fbank.shape[0]))
    return (padded - NORMS[0]) / NORMS[1]


def main():
    torch.set_num_threads(1)
    folder, out = sys.argv[1], sys.argv[2]
    max_len = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    with open(out, "wb") as sink:
        for name in sorted(os.listdir(folder)):
            if name.endswith(".wav"):
                sink.write(log_mel(os.path.join(folder, name), max_len).numpy().tobytes())


if __name__ == "__main__":
    main()
