#!/usr/bin/python3
"""Reference side of bench/gemm.ts: single-thread PyTorch matrix products, and a training step of a one-block
ViT-B/32-width audio tower, timed one at a time.

Protocol, one JSON object per output line:
  start: prints {"torch": version, "blas": BLAS_INFO of torch.__config__, "blas_library": the libblas mapped, "threads": 1}
  stdin "product M K N TA TB": op(a) @ op(b) with a (M, K) and b (K, N), stored transposed where TA / TB is 1 (the
         product reads them through .t(), as BLAS takes transposes), once untimed, then timed;
  stdin "step LAYERS B": one VA pre-training step as bench/train_torch.py runs it, of an audio tower of width 768
         and LAYERS blocks at batch B (built on first request, before the clock starts);
  each printed as {"run_s": wall-clock s, "cpu_s": CPU s of the process}. End of input ends the script.
"""
import json
import sys
import time

import torch

import train_torch
from towers_torch import blas_library


def timed(fn):
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    return {"run_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu}


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    blas = torch.__config__.show()
    blas = blas.split("BLAS_INFO=")[1].split(",")[0] if "BLAS_INFO=" in blas else "unknown"
    print(json.dumps({"torch": torch.__version__, "blas": blas, "blas_library": blas_library(),
                      "threads": torch.get_num_threads()}), flush=True)
    runs = {}
    for line in sys.stdin:
        kind, *args = line.split()
        if kind == "product":
            m, k, n, ta, tb = map(int, args)
            a = torch.randn(k, m).t() if ta else torch.randn(m, k)
            b = torch.randn(n, k).t() if tb else torch.randn(k, n)
            a @ b
            print(json.dumps(timed(lambda: a @ b)), flush=True)
        else:
            layers, batch = map(int, args)
            size = f"vit-b32, {layers} blocks"
            train_torch.SIZES[size] = dict(train_torch.SIZES["vit-b32"], layers=layers)
            run = runs.setdefault(size, train_torch.Run(size, batch))
            x = torch.randn(batch, 1, train_torch.FRAMES, 128)  # generated before the clock starts
            print(json.dumps(timed(lambda: run.step(x))), flush=True)


if __name__ == "__main__":
    main()
