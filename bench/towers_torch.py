#!/usr/bin/python3
"""Reference side of bench/towers.ts: the ViT-B/32-size towers of test/reference/towers.py in PyTorch, timed pass by pass.

Protocol, one JSON object per output line, so that the caller can interleave its passes with these:
  start: prints {"torch": version, "blas": BLAS_INFO of torch.__config__, "blas_library": the libblas mapped, "threads": n}
  stdin "audio B" / "text B" / "image B": one forward pass of batch B (audio: (B, 1, 1000, 128); text: (B, 77) ids
         with EOT last; image: (B, 3, 224, 224)), printed as {"run_s": seconds}. End of input ends the script.
"""
import json
import re
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test" / "reference"))
from towers import AudioHead, TextTransformer, VisionTransformer  # noqa: E402


def blas_library():
    maps = Path("/proc/self/maps").read_text()
    found = sorted({line.split()[-1] for line in maps.splitlines() if re.search(r"blas", line.split()[-1] if line.split() else "")})
    return found[0] if found else "unknown"


def start_torch(threads=2):
    """Seeds and threads as every benchmark runs PyTorch, then says which torch and BLAS run (the first reply line)."""
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    blas = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    print(json.dumps({"torch": torch.__version__, "blas": blas.group(1) if blas else "unknown", "blas_library": blas_library(),
                      "threads": torch.get_num_threads()}), flush=True)


def main():
    models = {"audio": AudioHead(width=768, layers=12, output_dim=512, max_len=1000).eval(),
              "text": TextTransformer(vocab_size=49408, context_length=77, width=512, layers=12, output_dim=512).eval(),
              "image": VisionTransformer(input_resolution=224, patch_size=32, width=768, layers=12, output_dim=512).eval()}
    inputs = {"audio": lambda b: torch.randn(b, 1, 1000, 128), "image": lambda b: torch.randn(b, 3, 224, 224),
              "text": lambda b: torch.cat([torch.randint(1, 49405, (b, 76)), torch.full((b, 1), 49407)], 1)}
    start_torch()
    for line in sys.stdin:
        tower, batch = line.split()
        x = inputs[tower](int(batch))  # generated before the clock starts
        with torch.no_grad():
            start = time.perf_counter()
            models[tower](x)
            print(json.dumps({"run_s": time.perf_counter() - start}), flush=True)


if __name__ == "__main__":
    main()
