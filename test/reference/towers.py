#!/usr/bin/python3
"""Reference outputs for test/model.test.ts: tiny random CLIP image/text towers and a VIP-ANT audio head in PyTorch.

The modules follow openai/CLIP model.py (LayerNorm, QuickGELU, ResidualAttentionBlock with nn.MultiheadAttention,
Transformer, VisionTransformer, the text half of CLIP) and VIP-ANT's audio head forward (cvap/module/val.py
ViTPreEncoder/ViTPostEncoder: conv weight averaged over its 3 input channels, stride (16, 24)), with
`load_pos_embedding` from cvap/module/encoder/audio_head.py for other input lengths (docs/method.md §5.3-§5.5).

Writes test/fixtures/model/: weights as float32 safetensors in the internal layout (CLIP `model.state_dict()` names;
VIP-ANT audio-head names), inputs and outputs as little-endian .f32/.i32, and manifest.json describing them.
Deterministic: fixed seed, CPU, 2 threads.  Run: /usr/bin/python3 test/reference/towers.py
"""
import json
import math
import struct
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "model"
PAD = 0.8577  # a normalised log-mel frame of zeros (docs/method.md §3.5): what padding looks like
SPEC = dict(patch_size=32, stride=(16, 24), mel_bins=128, max_len=200)  # trained grid: 11 x 5


class LayerNorm(nn.LayerNorm):
    def forward(self, x):
        return super().forward(x.type(torch.float32)).type(x.dtype)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, d_model, n_head):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_head)
        self.ln_1 = LayerNorm(d_model)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(d_model, d_model * 4)), ("gelu", QuickGELU()), ("c_proj", nn.Linear(d_model * 4, d_model))
        ]))
        self.ln_2 = LayerNorm(d_model)

    def forward(self, x, attn_mask=None):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads):
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads) for _ in range(layers)])

    def forward(self, x, attn_mask=None):  # x: (L, N, D), as CLIP feeds nn.MultiheadAttention
        for block in self.resblocks:
            x = block(x, attn_mask)
        return x


class VisionTransformer(nn.Module):
    def __init__(self, input_resolution, patch_size, width, layers, output_dim, in_channels=3):
        super().__init__()
        scale = width ** -0.5
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=patch_size, stride=patch_size, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn((input_resolution // patch_size) ** 2 + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, width // 64)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def embed(self, x, conv_weight, stride, positional_embedding):
        x = F.conv2d(x, conv_weight, stride=stride)  # shape = [*, width, rows, cols]
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)  # shape = [*, rows * cols, width]
        cls = self.class_embedding + torch.zeros(x.shape[0], 1, x.shape[-1])
        x = torch.cat([cls, x], dim=1) + positional_embedding[:x.shape[1] + 1]
        x = self.transformer(self.ln_pre(x).permute(1, 0, 2)).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj

    def forward(self, x):  # CLIP: (N, 3, H, W)
        return self.embed(x, self.conv1.weight, self.conv1.stride, self.positional_embedding)


class TextTransformer(nn.Module):
    """The text half of CLIP: `token_embedding`, `positional_embedding`, `transformer`, `ln_final`, `text_projection`."""

    def __init__(self, vocab_size, context_length, width, layers, output_dim):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(0.01 * torch.randn(context_length, width))
        self.transformer = Transformer(width, layers, width // 64)
        self.ln_final = LayerNorm(width)
        self.text_projection = nn.Parameter(width ** -0.5 * torch.randn(width, output_dim))

    def forward(self, text):
        L = text.shape[1]  # VIP-ANT pads to the batch's longest and slices the mask (docs/method.md §5.6)
        mask = torch.full((L, L), float("-inf")).triu_(1)
        x = self.token_embedding(text) + self.positional_embedding[:L]
        x = self.transformer(x.permute(1, 0, 2), mask).permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection


def position_resolution(resolution, patch_size, stride):
    return ((resolution[0] - patch_size) // stride[0] + 1, (resolution[1] - patch_size) // stride[1] + 1)


def load_pos_embedding(old_pos_emb, old_pos_shape, new_pos_shape, bop=1):
    """VIP-ANT's rule (cvap/module/encoder/audio_head.py), on the embedding tensor alone."""
    num_pos, pos_dim = old_pos_emb.shape
    num_pos_required = int(np.prod(new_pos_shape))
    if new_pos_shape == old_pos_shape:
        return old_pos_emb
    if new_pos_shape[-1] == old_pos_shape[-1] and num_pos_required + bop <= num_pos:
        if old_pos_shape[-2] == new_pos_shape[-2]:
            return old_pos_emb[:num_pos_required + bop]
        start = 6 * old_pos_shape[-1] + bop
        return torch.cat((old_pos_emb[:bop], old_pos_emb[start:start + num_pos_required]), 0)
    ptensor = old_pos_emb[bop:].reshape((-1,) + tuple(old_pos_shape) + (pos_dim,)).permute(0, 3, 1, 2)
    new = F.interpolate(ptensor, new_pos_shape, mode="bilinear", align_corners=False).permute(0, 2, 3, 1).flatten(1, 2)
    return torch.cat((old_pos_emb[:bop], new.view(-1, pos_dim)), dim=0)


class AudioHead(VisionTransformer):
    """VIP-ANT's CLIPAudioHead forward on (N, 1, T, 128): CLIP's ViT with a 3-channel conv averaged to 1, stride (16, 24)."""

    def __init__(self, width, layers, output_dim, max_len=SPEC["max_len"]):
        super().__init__(SPEC["patch_size"], SPEC["patch_size"], width, layers, output_dim)
        self.old_grid = position_resolution((max_len, SPEC["mel_bins"]), SPEC["patch_size"], SPEC["stride"])
        self.positional_embedding = nn.Parameter(width ** -0.5 * torch.randn(self.old_grid[0] * self.old_grid[1] + 1, width))

    def forward(self, x):
        new_grid = position_resolution(x.shape[-2:], SPEC["patch_size"], SPEC["stride"])
        pos = load_pos_embedding(self.positional_embedding, self.old_grid, new_grid)
        return self.embed(x, self.conv1.weight.mean(1, keepdim=True), SPEC["stride"], pos)

    def vipant_state_dict(self):
        """CLIP visual names renamed as `CLIPAudioHead.copy_state_dict` does (docs/method.md §5.4, §9.3)."""
        renamed = OrderedDict()
        for k, v in self.state_dict().items():
            k = {"conv1.weight": "pre_encoder.conv1.weight", "proj": "post_encoder.proj",
                 "positional_embedding": "misc.positional_embedding", "class_embedding": "misc.class_embedding"}.get(k, k)
            k = k.replace("transformer.", "encoder.", 1) if k.startswith("transformer.") else k
            k = k.replace("ln_pre.", "pre_encoder.ln.", 1).replace("ln_post.", "post_encoder.ln.", 1)
            renamed[k] = v
        return renamed


def randomise(module):
    """nn.MultiheadAttention starts its biases at 0 and LayerNorm at (1, 0), which would test nothing: make them random."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "ln_" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif p.dim() == 1:
                p.copy_(0.05 * torch.randn_like(p))


def write_safetensors(path, tensors):
    header, blobs, offset = {"__metadata__": {"source": "test/reference/towers.py"}}, [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().to(torch.float32).numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header)
    text += " " * (-len(text) % 8)  # the data starts 8-byte aligned
    path.write_bytes(struct.pack("<Q", len(text)) + text.encode() + b"".join(blobs))


def save(name, array, dtype="<f4"):
    array = np.ascontiguousarray(np.asarray(array, dtype=dtype))
    (OUT / name).write_bytes(array.tobytes())
    return {"file": name, "shape": list(array.shape)}


def main():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    OUT.mkdir(parents=True, exist_ok=True)
    cases = []

    # Image tower: 32 px, patch 8 (4x4 grid), width 128 so that two heads are exercised.
    visual = VisionTransformer(input_resolution=32, patch_size=8, width=128, layers=1, output_dim=64)
    # Text tower (one head, one layer; the audio tower stacks two): SOT = vocab - 2, EOT = vocab - 1, as in CLIP where EOT is the highest id.
    text = TextTransformer(vocab_size=256, context_length=77, width=64, layers=1, output_dim=64)
    for m in (visual, text):
        randomise(m)
    clip = OrderedDict((f"visual.{k}", v) for k, v in visual.state_dict().items())
    clip.update(text.state_dict())
    clip["logit_scale"] = torch.tensor(math.log(100))
    write_safetensors(OUT / "clip.safetensors", clip)

    with torch.no_grad():
        images = torch.randn(2, 32, 32, 3)  # HWC, as the mel stage's images column
        cases.append({"tower": "image", "weights": "clip.safetensors", "input": save("image_in.f32", images),
                      "output": save("image_out.f32", visual(images.permute(0, 3, 1, 2)))})
        sot, eot = 254, 255
        rows = [[sot, 17, 42, 9, eot], [sot, 200, eot], [sot, 5, 6, 7, 8, 9, 10, eot]]
        L = max(map(len, rows))
        ids = torch.tensor([r + [0] * (L - len(r)) for r in rows], dtype=torch.int32)
        cases.append({"tower": "text", "weights": "clip.safetensors", "input": save("text_in.i32", ids, "<i4"),
                      "output": save("text_out.f32", text(ids.long()))})
        single = ids[1:2, :3]  # one caption, unpadded
        cases.append({"tower": "text", "weights": "clip.safetensors", "input": save("text1_in.i32", single, "<i4"),
                      "output": save("text1_out.f32", text(single.long()))})

    # Audio tower: width 64 (one head), 2 layers, conv1 [64, 3, 32, 32], trained on max_len 200 (11 x 5 grid).
    audio = AudioHead(width=64, layers=2, output_dim=64)
    randomise(audio)
    write_safetensors(OUT / "audio.safetensors", audio.vipant_state_dict())
    with torch.no_grad():
        # T = 200: the trained grid; 96: 5 rows sliced from time row 6; 360: 21 rows interpolated from 11.
        for T, batch in ((200, 1), (96, 2), (360, 1)):
            mel = 0.5 * torch.randn(batch, T, SPEC["mel_bins"])
            if batch > 1:
                mel[1, 60:] = PAD  # a shorter clip padded to max_len (docs/method.md §3.5)
            cases.append({"tower": "audio", "weights": "audio.safetensors", "frames": T,
                          "input": save(f"audio{T}_in.f32", mel),
                          "output": save(f"audio{T}_out.f32", audio(mel.unsqueeze(1)))})
            new_grid = position_resolution((T, SPEC["mel_bins"]), SPEC["patch_size"], SPEC["stride"])
            cases[-1]["grid"] = list(new_grid)
            cases[-1]["positional"] = save(f"audio{T}_pos.f32", load_pos_embedding(audio.positional_embedding, audio.old_grid, new_grid))

        # docs/method.md §5.4: CLIP's 7x7 grid resized to the audio grid (61, 5), as at VA start.
        clip_pos = torch.randn(50, 16)
        resized = load_pos_embedding(clip_pos, (7, 7), (61, 5))
    pos_cases = {"input": save("clip_pos_in.f32", clip_pos), "output": save("clip_pos_61x5.f32", resized)}

    manifest = {"audio_config": {"resolution": [SPEC["max_len"], SPEC["mel_bins"]], "patchSize": SPEC["patch_size"],
                                 "stride": list(SPEC["stride"])},
                "torch": torch.__version__, "cases": cases, "clip_pos": pos_cases}
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
