"""VIP-ANT checkpoints written by VIP-ANT's own code, for test/checkpoint-original.test.ts.

Writes test/fixtures/original/ (vipant-va.pth, vipant-at.pth, their reference embeddings, manifest.json and
omegaconf-cases.json). Run it with Debian's interpreter, which has torch, torchaudio, omegaconf 2.2 and PyYAML
(plus apt's python3-packaging, python3-regex, python3-tqdm, python3-torchvision and a Java runtime for the ANTLR jars
that Hydra's and omegaconf's sources ship); nothing is installed from pip:

    /usr/bin/python3 test/reference/original_checkpoints.py

What is original, what is not:
- The model and trainer code is VIP-ANT's own (github.com/zhaoyanpeng/vipant, HEAD of the local bare mirror
  /work/.mirror/zhaoyanpeng+vipant/repo), exported to a temporary directory and imported as is.
- The cfg is composed by Hydra itself (facebookresearch/hydra v1.3.2 from the local mirror
  /work/.mirror/facebookresearch+hydra/repo, the release that pairs with omegaconf 2.2; its ANTLR override grammar
  is generated here with the ANTLR 4.9.3 jar Hydra ships), with version_base="1.1" (VIP-ANT ran Hydra 1.1.0), from
  VIP-ANT's configs/default.yaml and the command lines of bash/run_bimodal_va.sh (VA pre-training) and
  bash/run_bimodal_at.sh (AT fine-tuning). The only overrides added make the model tiny (image width 64, one layer,
  8x8 patches, 32-d embeddings; the audio head inherits them through the cfg's own interpolations), fix the port,
  and, for VA, select worker=CVAP, whose checkpoints are the (audio, loss) 2-tuples of the released VA models (the
  script's worker=CVALP would save the 4-tuple, which the AT fixture covers). The cfg is saved unresolved, as
  VIP-ANT's trainer saves it.
- The released checkpoints were pickled under omegaconf 2.1.0, which Hydra 1.1 needs and which cannot run Hydra on
  Python 3.11. So the VA file is re-saved in a subprocess running omegaconf v2.1.0 (from the local mirror
  /work/.mirror/omry+omegaconf/repo, its grammar generated with the ANTLR 4.8 jar it ships): the same composed cfg,
  as unresolved YAML, re-created with OmegaConf.create and set_struct as Hydra does, with the same model tuple. The
  AT file keeps Hydra 1.3's omegaconf 2.2 DictConfig. Both versions pickle the same layout: containers keep their
  children in `_content`, value nodes their value in `_val`, and both carry `_metadata` and `_parent`.
- Stubbed, because building and saving never reach them: fvcore's Registry (a minimal equivalent: name -> class),
  timm's to_2tuple (reimplemented as timm 0.4.12 defines it, since position_resolution calls it) and its DeiT
  classes, sklearn (evaluation metrics), ftfy (tokenizer text cleanup), einops, tabulate, termcolor (data loading,
  logging). torch.nn.Module.cuda is a no-op (no GPU is needed to build), and the monitor's torch.save call is
  redirected from cfg.alias_root to the fixture directory.
- No CLIP is loaded (load_clip fails on the missing clip_model_root, so VIP-ANT builds the towers from scratch, its
  own fallback). Training then changes every parameter; to stand in for that, each saved audio/loss parameter gets
  seeded Gaussian noise (std 0.02) before saving, so no LayerNorm is the identity.

Resolver cases (omegaconf-cases.json): small configs and what OmegaConf 2.2 makes of them (RESOLVER_CASES).

Reference outputs: the audio head's embeddings (the original's CLIPAudioHead.forward, unnormalised) on synthetic
log-mels given by a closed formula (mel(), mirrored in the test), at the trained length (1000 frames) and at 500 and
1800 frames; for the other lengths a head is built for that length and loads the checkpoint through the original's
from_pretrained (load_pos_embedding: a slice for 500, bilinear resizing for 1800).
"""
import json
import math
import subprocess
import sys
import tempfile
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test" / "fixtures" / "original"
VIPANT_MIRROR = "/work/.mirror/zhaoyanpeng+vipant/repo"
HYDRA_MIRROR = "/work/.mirror/facebookresearch+hydra/repo"
HYDRA_RELEASE = "v1.3.2"
OMEGACONF_MIRROR = "/work/.mirror/omry+omegaconf/repo"
OMEGACONF_21 = "v2.1.0"
LENGTHS = [1000, 500, 1800]
CLIPS = 2

TINY = [
    "model.image.width=64", "model.image.encoder.layers=1", "model.image.pre_encoder.patch_size=8",
    "model.image.embed_dim=32", "port=12345", "num_gpus=1",
]
# bash/run_bimodal_va.sh: `python train.py +running=bimodal $mtask`
VA = [
    "+running=bimodal", "model_name=test", "worker=CVALP", "mode=dp", "num_proc=2", "eval=False", "verbose=True",
    "+model/image=vit_val", "+model/audio=vit_val", "+model/text=dummy", "+model/loss=ce", "+optimizer=standard",
    "+running/audio=default", "model.audio.pre_encoder.in_channels=3", "model.audio.pre_encoder.stride=[16,24]",
    "optimizer.warmup=False", "running.audio.norms=[-4.93839311,5.75751113]", "running.epochs=1",
    "running.batch_size=2", "running.peep_rate=50", "running.save_rate=100", "running.eval_samples=100",
]
# bash/run_bimodal_at.sh: `python train.py +running=trimodal $mtask`
AT = [
    "+running=trimodal", "model_name=test", "monitor=VALMonitor", "worker=CVALP", "mode=dp", "num_proc=8",
    "eval=False", "verbose=True", "+model/image=vit_val", "+model/audio=vit_val", "+model/text=transformer_val",
    "+model/loss=ce_val", "+optimizer=standard", "+running/audio=default", "model.audio.pre_encoder.in_channels=3",
    "model.audio.pre_encoder.stride=[16,24]", "optimizer.warmup=False",
    "running.audio.norms=[-4.93839311,5.75751113]", "running.siamese.alive=True", "running.imagine=False",
    "model.loss.va=False", "running.batch_size=64", "running.peep_rate=1", 'running.prompt=""',
    "model_file=notafile", "+running.rnd_cap=True", "running.data_name=audiocaps_train",
    "running.eval_name=audiocaps_val", "running.test_name=audiocaps_test", "running.eval_samples=250",
    "running.test_samples=250", "running.train_samples=0.1",
]


def export(mirror, rev, into):
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", mirror, "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def hydra_from_source(into):
    export(HYDRA_MIRROR, HYDRA_RELEASE, into)
    for grammar in ["OverrideLexer.g4", "OverrideParser.g4"]:
        subprocess.run(["java", "-jar", str(into / "build_helpers/bin/antlr-4.9.3-complete.jar"), "-Dlanguage=Python3",
                        "-o", str(into / "hydra/grammar/gen"), "-Xexact-output-dir", "-visitor",
                        str(into / "hydra/grammar" / grammar)], check=True)


def omegaconf21_from_source(into):
    export(OMEGACONF_MIRROR, OMEGACONF_21, into)
    for grammar in ["OmegaConfGrammarLexer.g4", "OmegaConfGrammarParser.g4"]:
        subprocess.run(["java", "-jar", str(into / "build_helpers/bin/antlr-4.8-complete.jar"), "-Dlanguage=Python3",
                        "-o", str(into / "omegaconf/grammar/gen"), "-Xexact-output-dir", "-visitor",
                        str(into / "omegaconf/grammar" / grammar)], check=True)


# Run under omegaconf 2.1.0: the same cfg (Hydra's composition as unresolved YAML, struct flag as Hydra sets it)
# saved as an omegaconf 2.1 DictConfig with the same model tuple.
RESAVE_UNDER_21 = """
import sys, torch, omegaconf
from omegaconf import OmegaConf
assert omegaconf.__version__ == "2.1.0", omegaconf.__version__
yaml_file, model_file, out = sys.argv[1:]
cfg = OmegaConf.create(open(yaml_file).read())
OmegaConf.set_struct(cfg, True)
torch.save({"cfg": cfg, "model": torch.load(model_file)}, out)
"""


def resave_under_omegaconf21(file, omegaconf21, tmp):
    from omegaconf import OmegaConf
    saved = torch.load(file)
    (tmp / "cfg.yaml").write_text(OmegaConf.to_yaml(saved["cfg"]))
    torch.save(saved["model"], tmp / "model.pth")
    env = {"PYTHONPATH": str(omegaconf21), "PATH": "/usr/bin:/bin"}
    subprocess.run(["/usr/bin/python3", "-c", RESAVE_UNDER_21, str(tmp / "cfg.yaml"), str(tmp / "model.pth"), str(file)],
                   check=True, env=env)


def stub(name, **attrs):
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


class Registry:
    """fvcore.common.registry.Registry, reduced to what VIP-ANT uses: register (as a decorator or a call) and get."""

    def __init__(self, name):
        self._name, self._map = name, {}

    def register(self, obj=None):
        if obj is None:
            return lambda o: self.register(o) or o
        self._map[obj.__name__] = obj

    def get(self, name):
        return self._map[name]


def to_2tuple(x):
    """timm 0.4.12's to_2tuple: iterables as they are, anything else repeated twice."""
    import collections.abc
    return x if isinstance(x, collections.abc.Iterable) else (x, x)


def install_stubs():
    stub("fvcore"), stub("fvcore.common"), stub("fvcore.common.registry", Registry=Registry)
    unreachable = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("stubbed: not used to build or save"))
    stub("timm"), stub("timm.models")
    stub("timm.models.layers", to_2tuple=to_2tuple, trunc_normal_=unreachable)
    stub("timm.models.vision_transformer", VisionTransformer=type("VisionTransformer", (torch.nn.Module,), {}),
         _cfg=unreachable)
    stub("sklearn", metrics=stub("sklearn.metrics"))
    stub("sklearn.linear_model", LogisticRegression=unreachable)
    stub("ftfy", fix_text=unreachable)
    stub("einops", rearrange=unreachable, repeat=unreachable)
    stub("tabulate", tabulate=unreachable)
    stub("termcolor", colored=lambda text, *a, **k: text)
    torch.nn.Module.cuda = lambda self, *a, **k: self


def compose(config_dir, overrides):
    from hydra import compose as hydra_compose, initialize_config_dir
    with initialize_config_dir(config_dir=config_dir, version_base="1.1"):
        return hydra_compose(config_name="default", overrides=overrides)


def mel(clip, frames):
    """Synthetic normalised log-mel (frames, 128): smooth in time and frequency, distinct per clip."""
    t = np.arange(frames, dtype=np.float64)[:, None]
    f = np.arange(128, dtype=np.float64)[None, :]
    value = np.sin(0.05 * t + 0.3 * f + clip) * 1.5 + np.cos(0.011 * t * (1 + (f % 7))) * 0.5 - 0.2 * clip
    return value.astype(np.float32)


def perturb(state, seed):
    generator = torch.Generator().manual_seed(seed)
    for tensor in state.values():
        tensor.add_(torch.randn(tensor.shape, generator=generator) * 0.02)


def build_and_save(name, cfg, Model, Monitor, out, seed):
    """Builds the model as the monitor does (Model(cfg, echo).build()) and saves it with the monitor's own save()."""
    torch.manual_seed(1213)
    cfg.rank = 0  # train.py, mode "dp"
    model = Model(cfg, lambda *_: None)
    model.build(**({"output_dim": 1} if Monitor.__module__.endswith("cvalp") else {}))
    with torch.no_grad():
        perturb(model.audio_head.state_dict(keep_vars=True), seed)
        perturb(model.loss_head.state_dict(keep_vars=True), seed + 1)
    real_save = torch.save
    torch.save = lambda obj, _path: real_save(obj, out / f"{name}.pth")
    try:
        Monitor.save(types.SimpleNamespace(cfg=cfg, echo=lambda *_: None, model=model, total_step=71478))
    finally:
        torch.save = real_save
    return model


def embeddings(head_cfg_at, checkpoint_cfg, audio_sd, build_audio_head, frames):
    from omegaconf import OmegaConf, open_dict
    cfg = OmegaConf.create(OmegaConf.to_container(head_cfg_at, resolve=False))
    cfg.running.audio.max_len = frames
    head = build_audio_head(cfg.model.audio)
    if frames == checkpoint_cfg.running.audio.max_len:
        head.load_state_dict(audio_sd)
    else:
        head.from_pretrained(OrderedDict((k, v.clone()) for k, v in audio_sd.items()), checkpoint_cfg)
    head.eval()
    x = torch.from_numpy(np.stack([mel(c, frames) for c in range(CLIPS)]))[:, None]
    with torch.no_grad():
        return head(x).numpy()


# Interpolation cases, resolved by OmegaConf itself (the interpreter's omegaconf 2.2): each case is a config, and
# either the whole config resolved (OmegaConf.to_container(resolve=True)) or the exception OmegaConf raises.
ENV = {"VIPANT_TEST_VAR": "from-env"}
RESOLVER_CASES = {
    "absolute, list index, bracket, spaces": {"a": 1, "l": [10, 20], "x": "${l.1}", "y": "${l[0]}", "z": "${ a }"},
    "relative": {"a": {"b": 1, "c": "${.b}", "d": "${..top}", "e": ["${..b}", "${.0}"]}, "top": 5},
    "string interpolation formats like Python's str": {
        "a": 1.5, "b": "v${a}", "c": "${a}", "f": 1e-05, "g": "s${f}", "h": 1e16, "i": "s${h}", "j": True,
        "k": "s${j}", "n": None, "m": "s${n}", "big": 123456789012, "q": "${big}_${a}"},
    "whole-value keeps the type, containers included": {"d": {"x": 1, "y": "${.x}"}, "w": "${d}", "l": [1, "a"],
                                                       "wl": "${l}", "s": "s${l}"},
    "a container reached by interpolation resolves where it lives": {
        "x": "${model}", "model": {"audio": {"w": "${..image.w}"}, "image": {"w": 64}}},
    "nested": {"k": "b", "a": {"b": 7}, "x": "${a.${k}}", "y": "${oc.env:VIPANT_UNSET,${a.b}}"},
    "chains and several in one string": {"a": "x${b}y${c}", "b": "${c}", "c": "z", "d": "${a}"},
    "oc.env": {"x": "${oc.env:VIPANT_TEST_VAR}", "y": "${oc.env:VIPANT_UNSET,dflt}", "z": "${oc.env:VIPANT_UNSET,5}",
               "w": "${oc.env:VIPANT_UNSET,null}", "v": "${oc.env:VIPANT_UNSET,'a,b'}",
               "q": "${oc.env:VIPANT_UNSET,  x y  }", "e": "${oc.env:VIPANT_UNSET,''}"},
    "escapes": {"e": "\\${a}", "a": 1},
    "VIP-ANT's own": {"port": 22829, "dist_url": "tcp://localhost:${port}",
                      "running": {"audio": {"max_len": 1000, "num_mel_bins": 128}, "max_audio_len": "${running.audio.max_len}",
                                  "num_mel_bins": "${running.audio.num_mel_bins}"},
                      "model": {"image": {"width": 768, "pre_encoder": {"patch_size": 32}},
                                "audio": {"width": "${model.image.width}",
                                          "resolution": ["${running.max_audio_len}", "${running.num_mel_bins}"],
                                          "pre_encoder": {"patch_size": "${model.image.pre_encoder.patch_size}"}}}},
    "through an interpolated container": {"x": "${model}", "model": {"l": [1, {"v": "${..0}"}]}, "y": "${x.l.1.v}",
                                          "z": "${x.l[1]}"},
    "resolvers inside text and keys": {"a": "p_${oc.env:VIPANT_TEST_VAR}_s", "k": {"from-env": 3},
                                       "b": "${k.${oc.env:VIPANT_TEST_VAR}}", "c": "${oc.env: VIPANT_UNSET , \"q\" }"},
    "a string that only looks like one": {"a": "$x {y}", "b": "50$", "c": "{}"},
    "cycle": {"a": "${b}", "b": "${a}"},
    "an interpolated container that leads nowhere": {"x": "${nope}", "a": "${x.y}"},
    "self through a child": {"a": "${a.b}"},
    "missing": {"a": "???", "b": "${a}"},
    "unknown key": {"a": "${nope.x}"},
    "index out of range": {"a": "${l.5}", "l": [1]},
    "unknown resolver": {"a": "${foo:1}"},
    "unset variable without default": {"a": "${oc.env:VIPANT_UNSET}"},
    "unterminated": {"a": "x${b"},
}


def resolver_cases():
    from omegaconf import OmegaConf
    os_environ = __import__("os").environ
    os_environ.update(ENV)
    os_environ.pop("VIPANT_UNSET", None)
    cases = []
    for name, config in RESOLVER_CASES.items():
        case = {"name": name, "config": config}
        try:
            case["resolved"] = OmegaConf.to_container(OmegaConf.create(config), resolve=True)
        except Exception as error:  # what OmegaConf raises is the expectation
            case["error"] = type(error).__name__
        cases.append(case)
    return {"omegaconf": __import__("omegaconf").__version__, "env": ENV, "cases": cases}


def main():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        export(VIPANT_MIRROR, "HEAD", tmp / "vipant")
        hydra_from_source(tmp / "hydra")
        omegaconf21_from_source(tmp / "omegaconf21")
        sys.path[:0] = [str(tmp / "vipant"), str(tmp / "hydra")]
        install_stubs()
        from omegaconf import OmegaConf
        import omegaconf
        import hydra
        from cvap.model import CVAP, CVALP
        from cvap.module import build_audio_head
        from cvap.monitor.cvap import Monitor as VAMonitor
        from cvap.monitor.cvalp import Monitor as VALMonitor

        OUT.mkdir(parents=True, exist_ok=True)
        configs = str(tmp / "vipant" / "configs")
        manifest = {"generator": "test/reference/original_checkpoints.py", "omegaconf": omegaconf.__version__,
                    "hydra": hydra.__version__, "torch": torch.__version__, "clips": CLIPS, "files": {}}
        for name, overrides, Model, Monitor, under21 in [
            ("vipant-va", VA[:2] + ["worker=CVAP"] + VA[3:], CVAP, VAMonitor, True),
            ("vipant-at", AT, CVALP, VALMonitor, False),
        ]:
            cfg = compose(configs, overrides + TINY)
            build_and_save(name, cfg, Model, Monitor, OUT, seed=7 if under21 else 17)
            if under21:
                resave_under_omegaconf21(OUT / f"{name}.pth", tmp / "omegaconf21", tmp)
            saved = torch.load(OUT / f"{name}.pth")
            parts = saved["model"]
            audio_sd = parts[0] if len(parts) == 2 else parts[1]
            loss_sd = parts[-1]
            resolved = OmegaConf.to_container(saved["cfg"], resolve=True)
            entry = {"layout": len(parts), "omegaconf": "2.1.0" if under21 else omegaconf.__version__, "resolved_audio": resolved["model"]["audio"],
                     "logit_scale": {k: v.item() for k, v in loss_sd.items() if v.numel() == 1},
                     "max_len": resolved["running"]["audio"]["max_len"], "embeddings": {}}
            for frames in LENGTHS:
                emb = embeddings(saved["cfg"], saved["cfg"], audio_sd, build_audio_head, frames)
                file = f"{name}_emb_{frames}.f32"
                (OUT / file).write_bytes(emb.astype("<f4").tobytes())
                entry["embeddings"][str(frames)] = {"file": file, "shape": list(emb.shape)}
            manifest["files"][f"{name}.pth"] = entry
        (OUT / "omegaconf-cases.json").write_text(json.dumps(resolver_cases(), indent=1) + "\n")
        (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
