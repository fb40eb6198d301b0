#!/usr/bin/python3
"""Reference side of bench/train.ts: VA pre-training's trainable part in PyTorch, timed step by step.

One step: the audio tower of test/reference/towers.py on a random (B, 1, 1000, 128) batch against fixed random
"precomputed" image embeddings (B, E); loss = the sum of both cross-entropy directions over exp(s) * cosine
similarities, s a learned, unclamped logit scale (docs/method.md §6); backward; then LARS as vipant and VIP-ANT run it
(test/reference/train_lars.py, Barlow Twins': parameters of rank >= 2 get weight decay 1e-6 and the trust ratio
0.001 * |p| / |g|, the rest neither; momentum 0.9; group learning rates 0.2 and 0.0048 times a fixed 8 / 256).

Threads: 2, or VIPANT_BENCH_TORCH_THREADS.

Protocol, one JSON object per output line, so that the caller can interleave its steps with these:
  start: prints {"torch": version, "blas": BLAS_INFO of torch.__config__, "blas_library": the libblas mapped, "threads": n}
  stdin "SIZE B" (SIZE: vit-b32 or tiny, as vipant's --model, or vit-b32-1block, its first block alone): one step at
  batch B, printed as
  {"run_s": wall-clock s, "cpu_s": CPU s of the process (all threads), "loss": x}.
  The model of a size is built on its first request, before the clock starts. End of input ends the script.
"""
import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test" / "reference"))
from towers import AudioHead  # noqa: E402
from towers_torch import start_torch  # noqa: E402
from train_lars import LARS  # noqa: E402

SIZES = {"vit-b32": dict(width=768, layers=12, output_dim=512), "tiny": dict(width=64, layers=1, output_dim=32),
         "vit-b32-1block": dict(width=768, layers=1, output_dim=512)}
FRAMES = 1000


class Run:
    def __init__(self, size, batch):
        self.model = AudioHead(max_len=FRAMES, **SIZES[size]).train()
        self.logit_scale = torch.nn.Parameter(torch.tensor(2.6593))  # ln(1 / 0.07)
        params = list(self.model.parameters()) + [self.logit_scale]
        peak = batch / 256
        others = {"weight_decay_filter": True, "lars_adaptation_filter": True}  # no decay, no trust ratio
        self.optimizer = LARS([{"params": [p for p in params if p.ndim >= 2], "lr": 0.2 * peak},
                               {"params": [p for p in params if p.ndim < 2], "lr": 0.0048 * peak, **others}],
                              lr=peak, weight_decay=1e-6, momentum=0.9, eta=0.001)
        self.images = torch.randn(batch, SIZES[size]["output_dim"])
        self.batch = batch

    def step(self, x):
        a = F.normalize(self.model(x), dim=-1)
        b = F.normalize(self.images, dim=-1)
        logits = self.logit_scale.exp() * a @ b.t()
        target = torch.arange(self.batch)
        loss = F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()


def main():
    start_torch(int(os.environ.get("VIPANT_BENCH_TORCH_THREADS", "2")))
    runs = {}
    for line in sys.stdin:
        size, batch = line.split()
        run = runs.setdefault((size, batch), Run(size, int(batch)))
        x = torch.randn(run.batch, 1, FRAMES, 128)  # generated before the clock starts
        start, cpu = time.perf_counter(), time.process_time()
        loss = run.step(x)
        print(json.dumps({"run_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu, "loss": loss}), flush=True)


if __name__ == "__main__":
    main()
