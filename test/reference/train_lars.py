#!/usr/bin/python3
"""Reference for test/train.test.ts: three AT-style training steps of a tiny VIP-ANT audio head in PyTorch.

The audio head of test/fixtures/model (towers.py) against fixed "frozen text" embeddings, CELossHead's loss (the SUM
of both cross-entropy directions, learned logit scale, docs/method.md §6), the Barlow Twins LARS of cvap/module/lars.py with
its two parameter groups (ndim >= 2: weight decay and trust ratio; the rest: neither) and `adjust_learning_rate`
(linear warm-up, then cosine; lr_w = 0.2 lr, lr_b = 0.0048 lr; docs/method.md §7.1). Weight decay, eta and the peak lr are
larger than VIP-ANT's so that three steps move the weights measurably.

Writes test/fixtures/train/: inputs, per-step losses and lrs, and the weights after the last step (VIP-ANT names).
Run: /usr/bin/python3 test/reference/train_lars.py
"""
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from towers import AudioHead, write_safetensors  # noqa: E402

ROOT = Path(__file__).resolve().parents[1] / "fixtures"
OUT = ROOT / "train"
SETTINGS = dict(batch=4, steps=3, peak=1.6875, warmup_steps=2, total_steps=20, weight_decay=0.01, eta=0.01,
                momentum=0.9, lr_weight=0.2, lr_bias=0.0048, logit_scale=math.log(1 / 0.07))


class LARS(torch.optim.Optimizer):
    """cvap/module/lars.py (Barlow Twins): per-group switches for weight decay and the trust ratio."""

    def __init__(self, params, lr, weight_decay, momentum, eta):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum, eta=eta,
                                      weight_decay_filter=False, lars_adaptation_filter=False))

    @torch.no_grad()
    def step(self):
        for g in self.param_groups:
            for p in g["params"]:
                dp = p.grad
                if not g["weight_decay_filter"]:
                    dp = dp.add(p, alpha=g["weight_decay"])
                if not g["lars_adaptation_filter"]:
                    param_norm, update_norm = torch.norm(p), torch.norm(dp)
                    one = torch.ones_like(param_norm)
                    q = torch.where(param_norm > 0., torch.where(update_norm > 0, (g["eta"] * param_norm / update_norm), one), one)
                    dp = dp.mul(q)
                state = self.state[p]
                if "mu" not in state:
                    state["mu"] = torch.zeros_like(p)
                mu = state["mu"]
                mu.mul_(g["momentum"]).add_(dp)
                p.add_(mu, alpha=-g["lr"])


def learning_rate(step, s):
    if step < s["warmup_steps"]:
        return s["peak"] * step / s["warmup_steps"]
    q = 0.5 * (1 + math.cos(math.pi * (step - s["warmup_steps"]) / (s["total_steps"] - s["warmup_steps"])))
    return s["peak"] * q + 0.001 * s["peak"] * (1 - q)


def read_safetensors(path):
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    return {k: torch.from_numpy(np.frombuffer(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], "<f4").copy()
                                .reshape(v["shape"])) for k, v in header.items()}


def main():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    OUT.mkdir(parents=True, exist_ok=True)
    s = SETTINGS
    audio = AudioHead(width=64, layers=2, output_dim=64)
    names = audio.vipant_state_dict().keys()  # same order as the module's own names
    stored = read_safetensors(ROOT / "model" / "audio.safetensors")
    audio.load_state_dict({own: stored[vipant] for own, vipant in zip(audio.state_dict().keys(), names)})
    logit_scale = torch.nn.Parameter(torch.tensor(s["logit_scale"], dtype=torch.float32))
    params = list(audio.parameters()) + [logit_scale]
    groups = [{"params": [p for p in params if p.ndim >= 2]},
              {"params": [p for p in params if p.ndim < 2], "weight_decay_filter": True, "lars_adaptation_filter": True}]
    opt = LARS(groups, lr=0.0, weight_decay=s["weight_decay"], momentum=s["momentum"], eta=s["eta"])

    mels = 0.5 * torch.randn(s["steps"], s["batch"], 200, 128)
    texts = torch.randn(s["steps"], s["batch"], 64)
    losses, lrs = [], []
    for step in range(s["steps"]):
        lr = learning_rate(step, s)
        opt.param_groups[0]["lr"] = lr * s["lr_weight"]
        opt.param_groups[1]["lr"] = lr * s["lr_bias"]
        a = F.normalize(audio(mels[step].unsqueeze(1)), dim=-1)
        t = F.normalize(texts[step], dim=-1)
        logits = logit_scale.exp() * a @ t.t()
        target = torch.arange(s["batch"])
        loss = F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        lrs.append(lr)

    final = dict(zip(names, audio.state_dict().values()))
    final["logit_scale"] = logit_scale.detach()
    write_safetensors(OUT / "lars_final.safetensors", final)
    (OUT / "lars_mels.f32").write_bytes(mels.numpy().astype("<f4").tobytes())
    (OUT / "lars_texts.f32").write_bytes(texts.numpy().astype("<f4").tobytes())
    manifest = {"settings": s, "losses": losses, "lrs": lrs, "torch": torch.__version__}
    (OUT / "lars.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
