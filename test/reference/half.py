"""Float32 values and numpy's float16 rounding of them (round to nearest, ties to even): the reference of
src/lib/arrow/half.ts. Writes test/fixtures/half/{values.f32,halves.u16}.

Run: /usr/bin/python3 test/reference/half.py
"""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'half')
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(16)
n = 20000
# Every binade from far below the smallest subnormal half to past the largest half, both signs.
values = ((rng.random(n) - 0.5) * 2.0 ** rng.integers(-28, 18, n)).astype(np.float32)
# Exact ties between neighbouring halves, where rounding to even decides.
halves = rng.integers(0, 0x7bff, 2000).astype(np.uint16)
lo = halves.view(np.float16).astype(np.float32)
hi = (halves + 1).view(np.float16).astype(np.float32)
values = np.concatenate([values, ((lo.astype(np.float64) + hi) / 2).astype(np.float32)])
values.tofile(os.path.join(OUT, 'values.f32'))
values.astype(np.float16).view(np.uint16).tofile(os.path.join(OUT, 'halves.u16'))
print(len(values), 'values')
