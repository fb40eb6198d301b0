#!/usr/bin/python3
"""Tiny random CLIP and VIP-ANT models saved in the real checkpoint formats, for vipant's loader tests.

The modules below follow the key names and layouts of OpenAI CLIP's clip/model.py (VisionTransformer,
text Transformer with a causal mask) and VIP-ANT's CLIPAudioHead (docs/method.md §5.3), shrunk so that the
fixtures stay small: width 64 (heads = width // 64 = 1, as build_model infers them), vision 2 layers on
16x16 images with 8x8 patches, text 1 layer with a 64-token vocabulary and a 16-token context, audio 1
layer with the image head's 8x8 patches (VIP-ANT inherits the patch size) at stride (16, 24) on 64
frames, a 4x6 grid. Every weight is random and rounded
to fp16, so the fp16 files hold exactly the fp32 values and every format must load to identical numbers.

Writes test/fixtures/checkpoint/:
- clip-jit.pt            torch.jit.trace + torch.jit.save of the CLIP model after .half(), like OpenAI's
                         ViT-B-32.pt (input_resolution, context_length and vocab_size as tensor buffers)
- clip-state-dict.pt     torch.save(model.state_dict()) of the same model in fp16
- clip-hf.safetensors    the same weights under Hugging Face CLIPModel names (q/k/v split, Linear
                         projections), fp16, written by hand
- vipant-at.pth          VIP-ANT AT layout: {"cfg": DictConfig, "model": ({}, audio, {}, loss)}
- vipant-va.pth          VIP-ANT VA layout: {"cfg": DictConfig, "model": (audio, loss)}, from an
                         in_channels=1 run (patch filters = the first input channel of the others')
- tiny-clip.safetensors, tiny-audio.safetensors + tiny-audio.json: the same weights as float32 in
                         vipant's internal naming (OpenAI names; VIP-ANT audio-head names + audio config)
- tiny-reference.json + tiny-*.f32: forward-pass references (image, text and audio embeddings before
                         L2 normalisation) for model parity tests
- strided.pt             views sharing one storage (transposed, sliced, offset) and other dtypes;
  strided-deflated.pt    the same archive with deflated entries; strided-zip64.pt with ZIP64 records
  strided.json           the expected values, C order
- legacy.pt              the pre-1.6 (non-zip) torch.save format, which vipant refuses
- malicious.pt           a torch.save whose pickle calls os.system when unpickled by Python

Run from the repository root: /usr/bin/python3 test/reference/formats.py (torch 1.13, omegaconf 2.2).
Rerunning gives identical bytes, except legacy.pt (that format keys storages by memory address).
"""
import json
import os
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from omegaconf import OmegaConf

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "checkpoint"
VISION = dict(width=64, layers=2, patch=8, image=16)
TEXT = dict(width=64, layers=1, vocab=64, context=16)
AUDIO = dict(width=64, layers=1, patch=VISION["patch"], stride=(16, 24), resolution=(64, 128))
EMBED = 32


class LayerNorm(nn.LayerNorm):
    """CLIP's LayerNorm: computed in fp32 whatever the input dtype."""

    def forward(self, x):
        return super().forward(x.float()).type(x.dtype)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, d_model, n_head, attn_mask=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_head)
        self.ln_1 = LayerNorm(d_model)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(d_model, d_model * 4)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(d_model * 4, d_model)),
        ]))
        self.ln_2 = LayerNorm(d_model)
        self.attn_mask = attn_mask

    def attention(self, x):
        mask = None if self.attn_mask is None else self.attn_mask.to(dtype=x.dtype)
        return self.attn(x, x, x, need_weights=False, attn_mask=mask)[0]

    def forward(self, x):
        x = x + self.attention(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, attn_mask=None):
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, attn_mask) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    def __init__(self, input_resolution, patch_size, width, layers, heads, output_dim):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(width))
        self.positional_embedding = nn.Parameter(torch.randn((input_resolution // patch_size) ** 2 + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, output_dim))

    def forward(self, x):
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x).permute(1, 0, 2)
        x = self.transformer(x).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


class CLIP(nn.Module):
    def __init__(self):
        super().__init__()
        heads = VISION["width"] // 64
        self.visual = VisionTransformer(VISION["image"], VISION["patch"], VISION["width"], VISION["layers"], heads, EMBED)
        mask = torch.empty(TEXT["context"], TEXT["context"]).fill_(float("-inf")).triu_(1)
        self.transformer = Transformer(TEXT["width"], TEXT["layers"], TEXT["width"] // 64, mask)
        self.token_embedding = nn.Embedding(TEXT["vocab"], TEXT["width"])
        self.positional_embedding = nn.Parameter(torch.empty(TEXT["context"], TEXT["width"]))
        self.ln_final = LayerNorm(TEXT["width"])
        self.text_projection = nn.Parameter(torch.empty(TEXT["width"], EMBED))
        self.logit_scale = nn.Parameter(torch.ones([]) * np.log(100))

    def encode_image(self, image):
        return self.visual(image.type(self.visual.conv1.weight.dtype))

    def encode_text(self, text):
        x = self.token_embedding(text) + self.positional_embedding.to(self.token_embedding.weight.dtype)
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection

    def forward(self, image, text):
        image_features = self.encode_image(image)
        text_features = self.encode_text(text)
        image_features = image_features / image_features.norm(dim=1, keepdim=True)
        text_features = text_features / text_features.norm(dim=1, keepdim=True)
        logits_per_image = self.logit_scale.exp() * image_features @ text_features.t()
        return logits_per_image, logits_per_image.t()


class ViTPreEncoder(nn.Module):
    def __init__(self, width, patch_size, stride, in_channels=3):
        super().__init__()
        self.stride = stride
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=patch_size, stride=stride, bias=False)
        self.ln = LayerNorm(width)


class ViTPostEncoder(nn.Module):
    def __init__(self, width, output_dim):
        super().__init__()
        self.ln = LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, output_dim))


class CLIPMisc(nn.Module):
    def __init__(self, width, positions):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.randn(positions, width))
        self.class_embedding = nn.Parameter(torch.randn(width))


class CLIPAudioHead(nn.Module):
    """VIP-ANT's audio head; submodules registered in its order (encoder, pre, post, misc)."""

    def __init__(self):
        super().__init__()
        width, patch, stride, (frames, bins) = AUDIO["width"], AUDIO["patch"], AUDIO["stride"], AUDIO["resolution"]
        rows, cols = (frames - patch) // stride[0] + 1, (bins - patch) // stride[1] + 1
        self.encoder = Transformer(width, AUDIO["layers"], width // 64)
        self.pre_encoder = ViTPreEncoder(width, patch, stride)
        self.post_encoder = ViTPostEncoder(width, EMBED)
        self.misc = CLIPMisc(width, 1 + rows * cols)

    def forward(self, mel):
        weight = self.pre_encoder.conv1.weight
        if mel.shape[1] != weight.shape[1]:
            weight = weight.mean(1, keepdim=True)  # a 1-channel mel against the 3-channel patch filters
        x = nn.functional.conv2d(mel, weight, stride=self.pre_encoder.stride)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.misc.class_embedding + torch.zeros(x.shape[0], 1, x.shape[-1])
        x = torch.cat([cls, x], dim=1) + self.misc.positional_embedding
        x = self.pre_encoder.ln(x).permute(1, 0, 2)
        x = self.encoder(x).permute(1, 0, 2)
        return self.post_encoder.ln(x[:, 0, :]) @ self.post_encoder.proj


def randomise(module):
    """Random values everywhere (LayerNorm gains near 1), rounded to fp16 so every dtype holds them exactly."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            gain = name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or ".ln" in name and name.endswith(".weight")
            values = 1 + 0.1 * torch.randn_like(p) if gain else 0.05 * torch.randn_like(p)
            p.copy_(values.half().float())


def f32_safetensors(path, tensors, metadata=None, dtype="F32"):
    """safetensors by hand: u64 header length, JSON header (8-byte aligned), raw little-endian data."""
    np_dtype = {"F32": "<f4", "F16": "<f2"}[dtype]
    header, blobs, offset = ({"__metadata__": metadata} if metadata else {}), [], 0
    for name, t in tensors.items():
        blob = t.detach().numpy().astype(np_dtype).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text.encode() + b"".join(blobs))


def hf_state_dict(sd):
    """OpenAI CLIP names -> Hugging Face CLIPModel names (transformers' convert_clip_original_pytorch_to_hf)."""
    out = OrderedDict()
    layer = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2",
             "attn.out_proj": "self_attn.out_proj"}

    def blocks(src, dst, n):
        for i in range(n):
            s, d = f"{src}.{i}.", f"{dst}.{i}."
            for q, k in zip(("q", "k", "v"), sd[s + "attn.in_proj_weight"].chunk(3)):
                out[f"{d}self_attn.{q}_proj.weight"] = k
            for q, k in zip(("q", "k", "v"), sd[s + "attn.in_proj_bias"].chunk(3)):
                out[f"{d}self_attn.{q}_proj.bias"] = k
            for a, b in layer.items():
                for p in ("weight", "bias"):
                    out[f"{d}{b}.{p}"] = sd[f"{s}{a}.{p}"]

    out["text_model.embeddings.token_embedding.weight"] = sd["token_embedding.weight"]
    out["text_model.embeddings.position_embedding.weight"] = sd["positional_embedding"]
    blocks("transformer.resblocks", "text_model.encoder.layers", TEXT["layers"])
    out["text_model.final_layer_norm.weight"] = sd["ln_final.weight"]
    out["text_model.final_layer_norm.bias"] = sd["ln_final.bias"]
    out["vision_model.embeddings.class_embedding"] = sd["visual.class_embedding"]
    out["vision_model.embeddings.patch_embedding.weight"] = sd["visual.conv1.weight"]
    out["vision_model.embeddings.position_embedding.weight"] = sd["visual.positional_embedding"]
    out["vision_model.pre_layrnorm.weight"] = sd["visual.ln_pre.weight"]
    out["vision_model.pre_layrnorm.bias"] = sd["visual.ln_pre.bias"]
    blocks("visual.transformer.resblocks", "vision_model.encoder.layers", VISION["layers"])
    out["vision_model.post_layernorm.weight"] = sd["visual.ln_post.weight"]
    out["vision_model.post_layernorm.bias"] = sd["visual.ln_post.bias"]
    out["visual_projection.weight"] = sd["visual.proj"].t()
    out["text_projection.weight"] = sd["text_projection"].t()
    out["logit_scale"] = sd["logit_scale"]
    return out


def vipant_cfg():
    """The parts of a VIP-ANT run's cfg that matter to the audio head, plus a few others for realism."""
    return OmegaConf.create({
        "alias": "tiny", "seed": 1213, "mode": "zero",
        "model": {"name": "CVALP", "audio": {
            "name": "CLIPAudioHead", "max_len": AUDIO["resolution"][0], "resolution": list(AUDIO["resolution"]),
            "pre_encoder": {"name": "ViTPreEncoder", "patch_size": AUDIO["patch"], "stride": list(AUDIO["stride"]),
                            "in_channels": 3},
            "encoder": {"width": AUDIO["width"], "layers": AUDIO["layers"], "heads": AUDIO["width"] // 64},
        }},
        "optimizer": {"name": "LARS", "lr": 0.2, "betas": [0.9, 0.999]},
        "running": {"batch_size": 32, "epochs": 5, "audio": {"norms": [-4.93, 5.0]}},
    })


def reference_outputs(clip, audio):
    torch.manual_seed(7)
    image = torch.randn(2, 3, VISION["image"], VISION["image"])
    text = torch.tensor([[TEXT["vocab"] - 2, 5, 9, TEXT["vocab"] - 1] + [0] * (TEXT["context"] - 4),
                         [TEXT["vocab"] - 2, 3, TEXT["vocab"] - 1] + [0] * (TEXT["context"] - 3)])
    mel = torch.randn(2, 1, AUDIO["resolution"][0], AUDIO["resolution"][1])
    with torch.no_grad():
        outputs = {"image": image, "image_embedding": clip.encode_image(image),
                   "text_embedding": clip.encode_text(text), "mel": mel, "audio_embedding": audio(mel)}
    manifest = {"text_tokens": text.tolist(), "arrays": {}}
    for name, t in outputs.items():
        (OUT / f"tiny-{name}.f32").write_bytes(t.numpy().astype("<f4").tobytes())
        manifest["arrays"][name] = {"file": f"tiny-{name}.f32", "shape": list(t.shape)}
    (OUT / "tiny-reference.json").write_text(json.dumps(manifest, indent=1) + "\n")


def strided_archives():
    """Views that share one storage (offsets, transposes, slices) and the storage dtypes torch.save writes."""
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 8
    tensors = OrderedDict([
        ("base", base),
        ("transposed", base.t()),
        ("sliced", base[1:3, 2:5]),
        ("column", base[:, 4]),
        ("stepped", base[::2, 1::3]),
        ("scalar", base[2, 3]),
        ("half", torch.tensor([[0.5, -2.0, 65504.0], [6.1035156e-05, 1e-7, -0.0]], dtype=torch.float16).t()),
        ("bfloat", torch.tensor([1.5, -3.25, 1e30], dtype=torch.bfloat16)),
        ("double", torch.tensor([0.1, 1e-40, -7.0], dtype=torch.float64)),
        ("long", torch.tensor([-3, 2 ** 40, 7], dtype=torch.int64)),
        ("int", torch.tensor([[1, -2], [3, 4]], dtype=torch.int32)[:, 1]),
        ("bool", torch.tensor([True, False, True])),
        ("uint8", torch.tensor([0, 255, 17], dtype=torch.uint8)),
    ])
    torch.save({"tensors": tensors, "meta": {"epoch": 3, "name": "strided", "ratio": 0.25, "flags": (True, None)}},
               OUT / "strided.pt")
    expected = {k: {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""),
                    "values": t.float().reshape(-1).tolist()} for k, t in tensors.items()}
    (OUT / "strided.json").write_text(json.dumps(expected) + "\n")

    with zipfile.ZipFile(OUT / "strided.pt") as src, \
            zipfile.ZipFile(OUT / "strided-deflated.pt", "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=info.date_time), src.read(info.filename), zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(OUT / "strided.pt") as src:
        write_zip64(OUT / "strided-zip64.pt", [(i.filename, src.read(i.filename)) for i in src.infolist()])
    for name in ("strided-deflated.pt", "strided-zip64.pt"):
        assert torch.equal(torch.load(OUT / name)["tensors"]["transposed"], base.t()), name


def write_zip64(path, entries):
    """A stored zip whose central directory uses ZIP64 extra fields and end records throughout, as a
    writer does for archives over 4 GiB (too big for a fixture). torch.load reads it back."""
    import zlib
    out, central = bytearray(), bytearray()
    for name, data in entries:
        offset, crc, fname = len(out), zlib.crc32(data), name.encode()
        extra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(fname), len(extra))
        out += fname + extra + data
        cextra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                               len(fname), len(cextra), 0, 0, 0, 0, 0xFFFFFFFF) + fname + cextra
    cd_offset = len(out)
    out += central
    eocd64 = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(entries), len(entries), len(central), cd_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, eocd64, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    path.write_bytes(bytes(out))


class Pwned:
    def __reduce__(self):
        return os.system, ("touch /tmp/vipant-pickle-pwned",)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    clip, audio = CLIP().eval(), CLIPAudioHead().eval()
    randomise(clip)
    randomise(audio)
    with torch.no_grad():
        clip.logit_scale.fill_(float(torch.tensor(np.log(100)).half()))
    loss_scale = torch.tensor(float(torch.tensor(np.log(1 / 0.07)).half()))
    clip_sd, audio_sd = clip.state_dict(), audio.state_dict()

    f32_safetensors(OUT / "tiny-clip.safetensors", clip_sd)
    audio_config = {"resolution": list(AUDIO["resolution"]), "patchSize": AUDIO["patch"], "stride": list(AUDIO["stride"])}
    f32_safetensors(OUT / "tiny-audio.safetensors", audio_sd)
    (OUT / "tiny-audio.json").write_text(json.dumps({**audio_config, "logitScale": loss_scale.item()}) + "\n")
    reference_outputs(clip, audio)

    f32_safetensors(OUT / "clip-hf.safetensors", hf_state_dict(clip_sd), {"format": "pt"}, dtype="F16")
    half = CLIP().eval()
    half.load_state_dict(clip_sd)
    half.half()
    torch.save(half.state_dict(), OUT / "clip-state-dict.pt")
    # OpenAI's JIT CLIP carries these three as tensor buffers; clip.load reads input_resolution.item().
    # CPU convolutions have no fp16 kernel, so trace in fp32 and halve the traced module.
    clip.register_buffer("input_resolution", torch.tensor(VISION["image"]))
    clip.register_buffer("context_length", torch.tensor(TEXT["context"]))
    clip.register_buffer("vocab_size", torch.tensor(TEXT["vocab"]))
    image = torch.zeros(1, 3, VISION["image"], VISION["image"])
    text = torch.zeros(1, TEXT["context"], dtype=torch.long)
    with torch.no_grad():
        traced = torch.jit.trace(clip, (image, text), check_trace=False)
    traced.half()
    torch.jit.save(traced, str(OUT / "clip-jit.pt"))
    assert {*torch.jit.load(str(OUT / "clip-jit.pt")).state_dict()} == {*half.state_dict(), "input_resolution", "context_length", "vocab_size"}

    cfg = vipant_cfg()
    at_loss = OrderedDict([("loss_head_al.logit_scale", loss_scale)])
    torch.save({"cfg": cfg, "model": (OrderedDict(), audio_sd, OrderedDict(), at_loss)}, OUT / "vipant-at.pth")
    # The VA file comes from an in_channels=1 run (docs/method.md §9.3): its patch filters are the first input channel's.
    va_sd = OrderedDict((k, v[:, :1].clone() if k == "pre_encoder.conv1.weight" else v) for k, v in audio_sd.items())
    va_cfg = vipant_cfg()
    va_cfg.model.audio.pre_encoder.in_channels = 1
    torch.save({"cfg": va_cfg, "model": (va_sd, OrderedDict([("logit_scale", loss_scale)]))}, OUT / "vipant-va.pth")

    strided_archives()
    torch.save(torch.arange(4.0), OUT / "legacy.pt", _use_new_zipfile_serialization=False)
    torch.save({"model": OrderedDict([("w", torch.ones(2))]), "x": Pwned()}, OUT / "malicious.pt")


if __name__ == "__main__":
    main()
