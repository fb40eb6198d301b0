#!/usr/bin/env python3
"""Independent numpy reference for the evaluation metrics of docs/method.md §8.1 (zero-shot classification) and
§8.2 (audio-text retrieval). Writes random inputs (float32 values, so JS reads them exactly) with exact
ties injected, and the expected metrics, to test/fixtures/metrics/. Deterministic: rerun to regenerate.

Conventions, as in docs/method.md §8 and the original (torch/numpy argmax, np.median):
  - ties rank the lower index first (a stable sort of -score);
  - median rank is torch.median of rank+1, the lower of the two middle values for an even count (the
    original's LossHead.retrieval_metrics calls ranks.median());
  - AP@10 sums precision at each relevant item within the top 10 and divides by min(relevant, 10).
"""
import json
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'metrics')
rng = np.random.default_rng(20261125)


def f32(shape):
    return rng.standard_normal(shape).astype(np.float32)


def order(scores):
    """Indices by descending score, lower index first on ties."""
    return np.argsort(-scores, kind='stable')


def positions(scores):
    """pos[j] = 0-based position of item j in the descending order."""
    pos = np.empty(len(scores), dtype=np.int64)
    pos[order(scores)] = np.arange(len(scores))
    return pos


def classification():
    clips, classes, dim, folds = 40, 10, 16, 4
    audio = f32((clips, dim))
    text = f32((classes, dim))
    text[7] = text[3]          # two classes with one embedding: every clip ties them
    audio[5] = audio[4]        # duplicate clips
    audio[9] = np.zeros(dim, dtype=np.float32)  # all scores 0: a full tie, argmax is class 0
    labels = rng.integers(0, classes, clips)
    labels[:classes] = np.arange(classes)
    labels[11] = 7             # a clip whose label loses the 3/7 tie
    fold = np.arange(clips) % folds + 1
    scores = audio.astype(np.float64) @ text.astype(np.float64).T
    pred = np.argmax(scores, axis=1)  # first maximum on ties
    pos = np.array([positions(scores[i])[labels[i]] for i in range(clips)])
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (labels, pred), 1)
    per_class = []
    for c in range(classes):
        n = int((labels == c).sum())
        per_class.append({'label': c, 'clips': n, 'accuracy': None if n == 0 else float((pred[labels == c] == c).mean())})
    return {
        'audio': audio.tolist(), 'text': text.tolist(), 'labels': labels.tolist(), 'folds': fold.tolist(),
        'expected': {
            'clips': clips,
            'accuracy': float((pred == labels).mean()),
            'top5': float((pos < 5).mean()),
            'folds': [{'fold': int(f), 'clips': int((fold == f).sum()), 'accuracy': float((pred[fold == f] == labels[fold == f]).mean())}
                      for f in range(1, folds + 1)],
            'classes': per_class,
            'confusion': confusion.tolist(),
            'predicted': pred.tolist(),
        },
    }


def direction(relevant_positions):
    ranks = np.array([min(p) for p in relevant_positions])
    def ap10(p):
        hits = np.sort(np.array([x for x in p if x < 10]))
        return float(sum((h + 1) / (x + 1) for h, x in enumerate(hits)) / min(len(p), 10))
    return {
        'queries': len(ranks),
        **{f'r{k}': float(100 * (ranks < k).mean()) for k in (1, 5, 10, 50)},
        'median_rank': float(np.sort(ranks + 1)[(len(ranks) - 1) // 2]),
        'mean_rank': float(np.mean(ranks + 1)),
        'map10': float(np.mean([ap10(p) for p in relevant_positions])),
    }


def retrieval():
    n, dim = 12, 16
    audio = f32((n, dim))
    text = f32((5 * n, dim))
    text[3] = text[1]               # duplicate captions within a clip
    text[12] = text[2]              # ... and across clips
    text[20:25] = text[25]          # a clip whose 5 captions equal another's first
    audio[6] = audio[2]             # duplicate clips: equal cosines everywhere
    unit = lambda m: m.astype(np.float64) / np.linalg.norm(m.astype(np.float64), axis=1, keepdims=True)
    sim = unit(audio) @ unit(text).T
    a2t = [[positions(sim[i])[5 * i + k] for k in range(5)] for i in range(n)]
    t2a = [[positions(sim[:, q])[q // 5]] for q in range(5 * n)]
    return {'audio': audio.tolist(), 'text': text.tolist(),
            'expected': {'audio_to_text': direction(a2t), 'text_to_audio': direction(t2a)}}


def original_loss_head():
    """The original's cvap/module/decoder/loss_head.py, read from the zhaoyanpeng/vipant mirror and imported as is.
    Its imports of fvcore's registry and of CLIP's modules are stubbed: retrieval_eval uses neither."""
    import subprocess
    import sys
    import types
    mirror = os.environ.get('VIPANT_ORIGINAL', '/work/.mirror/zhaoyanpeng+vipant/repo')
    source = subprocess.run(['git', '-C', mirror, 'show', 'HEAD:cvap/module/decoder/loss_head.py'],
                            check=True, capture_output=True, text=True).stdout
    registry = types.ModuleType('fvcore.common.registry')
    registry.Registry = lambda name: types.SimpleNamespace(register=lambda *a, **k: (lambda c: c))
    sys.modules.update({'fvcore': types.ModuleType('fvcore'), 'fvcore.common': types.ModuleType('fvcore.common'),
                        'fvcore.common.registry': registry})
    clip = types.ModuleType('clip')
    clip.LayerNorm = clip.Transformer = clip.ModifiedResNet = clip.VisualTransformer = None
    sys.modules['clip'] = clip
    module = types.ModuleType('loss_head')
    exec(compile(source, 'cvap/module/decoder/loss_head.py', 'exec'), module.__dict__)
    return module.LossHead


def retrieval_by_original():
    """20 clips x 5 captions without ties (argsort in the original is not stable), scored by the original's own
    LossHead.retrieval_eval; its printed line is parsed into numbers (2 decimals, as it prints them)."""
    import re
    import torch
    n, dim = 20, 8
    audio = f32((n, dim))
    text = f32((5 * n, dim))
    unit = lambda m: torch.from_numpy(m.astype(np.float64) / np.linalg.norm(m.astype(np.float64), axis=1, keepdims=True))
    message = original_loss_head().retrieval_eval(unit(audio), unit(text))
    pattern = re.compile(r'(A->T|T->A): R@1 (\S+) R5 (\S+) R10 (\S+) R50 (\S+) MED (\S+) AVG (\S+)')
    printed = {}
    for direction, *values in pattern.findall(message):
        name = 'audio_to_text' if direction == 'A->T' else 'text_to_audio'
        printed[name] = dict(zip(('r1', 'r5', 'r10', 'r50', 'median_rank', 'mean_rank'), map(float, values)))
    assert len(printed) == 2, message
    return {'audio': audio.tolist(), 'text': text.tolist(), 'original_message': message, 'printed': printed}


os.makedirs(OUT, exist_ok=True)
for name, data in (('classification', classification()), ('retrieval', retrieval()), ('retrieval_original', retrieval_by_original())):
    with open(os.path.join(OUT, f'{name}.json'), 'w') as f:
        json.dump(data, f, separators=(',', ':'))
        f.write('\n')
