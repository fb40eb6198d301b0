/*
 * The inner loop of torchaudio.compliance.kaldi.fbank (see ../kaldi-fbank.ts, which builds every table this file
 * reads and checks every option), compiled to WebAssembly with 128-bit SIMD: scripts/build-fbank-wasm.sh.
 *
 * Frames are computed two at a time, one per lane of an f64x2 vector, so every operation is the scalar algorithm's
 * own, in the same order and in float64: each lane's result equals what the scalar code gives. The packed real FFT
 * (n real samples as n/2 complex ones, radix-4 decimation in time with a radix-8 first pass when log2(n/2) is odd,
 * then the split into the real signal's spectrum) follows the layout its tables describe.
 *
 * No libc: the log of the mel energies uses a table (see logFloored in ../kaldi-fbank.ts), so the module imports
 * nothing and exports its memory and `fbank`.
 */
typedef double v2d __attribute__((vector_size(16)));

/* A real FFT of n = 2 * half samples: written by fft.ts (its FFT_FIELDS, same order). */
typedef struct {
  int half, radix8First;
  const int *reversedOffset;  /* half: 2 * bit-reverse(i) */
  const double *twiddles;     /* per radix-4 pass with quarter-span h, for j < h: w^j, w^2j, w^3j as (cos, sin) */
  const double *splitCos;     /* half/2 + 1 */
  const double *splitSin;
  v2d *z;                     /* 2 * half: the packed transform, interleaved (re, im) */
} Fft;

/* Everything the fbank reads for one (sample rate, options): written by kaldi-fbank.ts (PLAN_FIELDS, same order). */
typedef struct {
  double preemphasis;
  int windowSize, windowShift, bins, removeDcOffset, usePower, useLog;
  const Fft *fft;
  const double *window;       /* windowSize */
  const int *segmentStart;    /* bins + 2 */
  const double *upWeight;     /* half */
  const double *downWeight;
  const double *pow2Neg;      /* 2047 */
  const double *invC;         /* 128 */
  const double *lnC;          /* 128 */
  v2d *frame;                 /* 2 * half, zero beyond windowSize */
  v2d *spectrum;              /* half + 1 */
  v2d *energies;              /* bins */
} Plan;

#define EPSILON 1.1920928955078125e-7
#define LN2 0.6931471805599453
#define SQRT1_2 0.7071067811865476

static inline v2d splat(double x) { return (v2d){x, x}; }

static double frameMean(const float *w, int size) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int j = 0;
  for (; j + 3 < size; j += 4) {
    s0 += w[j];
    s1 += w[j + 1];
    s2 += w[j + 2];
    s3 += w[j + 3];
  }
  for (; j < size; j++) s0 += w[j];
  return (s0 + s1 + s2 + s3) / size;
}

/* Windowed, pre-emphasised frames a and b into the two lanes of plan->frame. */
static void loadFrames(const Plan *p, const float *a, const float *b) {
  const int size = p->windowSize;
  const v2d mean = p->removeDcOffset ? (v2d){frameMean(a, size), frameMean(b, size)} : splat(0);
  const v2d pre = splat(p->preemphasis);
  v2d previous = (v2d){a[0], b[0]} - mean;
  for (int j = 0; j < size; j++) {
    const v2d current = (v2d){a[j], b[j]} - mean;
    p->frame[j] = (current - pre * previous) * splat(p->window[j]);
    previous = current;
  }
}

static void packedTransform(const Fft *f, const v2d *in) {
  const int half = f->half;
  v2d *z = f->z;
  const int *rev = f->reversedOffset;
  if (f->radix8First) {
    const v2d r = splat(SQRT1_2);
    for (int s = 0; s < half; s += 8) {
      const int p0 = rev[s], p1 = rev[s + 1], p2 = rev[s + 2], p3 = rev[s + 3];
      const int p4 = rev[s + 4], p5 = rev[s + 5], p6 = rev[s + 6], p7 = rev[s + 7];
      const v2d y0r = in[p0] + in[p1], y0i = in[p0 + 1] + in[p1 + 1];
      const v2d y1r = in[p0] - in[p1], y1i = in[p0 + 1] - in[p1 + 1];
      const v2d y2r = in[p2] + in[p3], y2i = in[p2 + 1] + in[p3 + 1];
      const v2d y3r = in[p2] - in[p3], y3i = in[p2 + 1] - in[p3 + 1];
      const v2d y4r = in[p4] + in[p5], y4i = in[p4 + 1] + in[p5 + 1];
      const v2d y5r = in[p4] - in[p5], y5i = in[p4 + 1] - in[p5 + 1];
      const v2d y6r = in[p6] + in[p7], y6i = in[p6 + 1] + in[p7 + 1];
      const v2d y7r = in[p6] - in[p7], y7i = in[p6 + 1] - in[p7 + 1];
      v2d *o = z + 2 * s;
      v2d ar = y0r + y2r, ai = y0i + y2i, br = y0r - y2r, bi = y0i - y2i;
      v2d cr = y4r + y6r, ci = y4i + y6i, dr = y4r - y6r, di = y4i - y6i;
      o[0] = ar + cr, o[1] = ai + ci, o[8] = ar - cr, o[9] = ai - ci;
      o[4] = br + di, o[5] = bi - dr, o[12] = br - di, o[13] = bi + dr;
      /* t1 = W8·y5, t2 = −i·y3, t3 = W8^3·y7 with W8 = (1 − i)/√2 */
      const v2d t1r = r * (y5r + y5i), t1i = r * (y5i - y5r);
      const v2d t3r = r * (y7i - y7r), t3i = -r * (y7r + y7i);
      ar = y1r + y3i, ai = y1i - y3r, br = y1r - y3i, bi = y1i + y3r;
      cr = t1r + t3r, ci = t1i + t3i, dr = t1r - t3r, di = t1i - t3i;
      o[2] = ar + cr, o[3] = ai + ci, o[10] = ar - cr, o[11] = ai - ci;
      o[6] = br + di, o[7] = bi - dr, o[14] = br - di, o[15] = bi + dr;
    }
  } else {
    for (int s = 0; s < half; s += 4) {
      const int p0 = rev[s], p1 = rev[s + 1], p2 = rev[s + 2], p3 = rev[s + 3];
      const v2d ar = in[p0] + in[p1], ai = in[p0 + 1] + in[p1 + 1];
      const v2d br = in[p0] - in[p1], bi = in[p0 + 1] - in[p1 + 1];
      const v2d cr = in[p2] + in[p3], ci = in[p2 + 1] + in[p3 + 1];
      const v2d dr = in[p2] - in[p3], di = in[p2 + 1] - in[p3 + 1];
      v2d *o = z + 2 * s;
      o[0] = ar + cr, o[1] = ai + ci, o[4] = ar - cr, o[5] = ai - ci;
      o[2] = br + di, o[3] = bi - dr, o[6] = br - di, o[7] = bi + dr;
    }
  }
  /* Radix-4 passes on bit-reversed data: a block of 4h values holds the h-point DFTs of the subsequences 4n, 4n+2,
     4n+1, 4n+3, so the inputs at +h and +2h swap roles relative to the textbook butterfly. */
  const int end = 2 * half;
  const double *tw = f->twiddles;
  for (int h = f->radix8First ? 8 : 4; h < half; h *= 4) {
    const int h2 = 2 * h, span = 8 * h;
    for (int j = 0; j < h; j++, tw += 6) {
      const v2d w1r = splat(tw[0]), w1i = splat(tw[1]), w2r = splat(tw[2]);
      const v2d w2i = splat(tw[3]), w3r = splat(tw[4]), w3i = splat(tw[5]);
      for (int a = 2 * j; a < end; a += span) {
        const int b = a + h2, c = b + h2, d = c + h2;
        const v2d f0r = z[a], f0i = z[a + 1];
        const v2d t1r = w1r * z[c] - w1i * z[c + 1], t1i = w1r * z[c + 1] + w1i * z[c];
        const v2d t2r = w2r * z[b] - w2i * z[b + 1], t2i = w2r * z[b + 1] + w2i * z[b];
        const v2d t3r = w3r * z[d] - w3i * z[d + 1], t3i = w3r * z[d + 1] + w3i * z[d];
        const v2d ar = f0r + t2r, ai = f0i + t2i, br = f0r - t2r, bi = f0i - t2i;
        const v2d cr = t1r + t3r, ci = t1i + t3i, dr = t1r - t3r, di = t1i - t3i;
        z[a] = ar + cr, z[a + 1] = ai + ci, z[c] = ar - cr, z[c + 1] = ai - ci;
        z[b] = br + di, z[b + 1] = bi - dr, z[d] = br - di, z[d + 1] = bi + dr;
      }
    }
  }
}

/* |X[k]|², k = 0..half, from the packed transform: X[k] = Fe + W^k·Fo, X[half-k] = conj(Fe − W^k·Fo). */
__attribute__((export_name("power_spectrum"))) void powerSpectrum(const Fft *f, const v2d *frame, v2d *out) {
  packedTransform(f, frame);
  const int half = f->half, quarter = half >> 1;
  const v2d *z = f->z;
  const v2d quarterOf = splat(0.25);
  out[0] = (z[0] + z[1]) * (z[0] + z[1]);
  out[half] = (z[0] - z[1]) * (z[0] - z[1]);
  for (int k = 1; k <= quarter; k++) {
    const v2d zr = z[2 * k], zi = z[2 * k + 1];
    const v2d cr = z[2 * (half - k)], ci = -z[2 * (half - k) + 1];
    const v2d er = zr + cr, ei = zi + ci, or = zi - ci, oi = cr - zr;
    const v2d wr = splat(f->splitCos[k]), wi = splat(f->splitSin[k]);
    const v2d tr = wr * or - wi * oi, ti = wr * oi + wi * or;
    out[k] = quarterOf * ((er + tr) * (er + tr) + (ei + ti) * (ei + ti));
    out[half - k] = quarterOf * ((er - tr) * (er - tr) + (ei - ti) * (ei - ti));
  }
}

static void magnitudes(const Plan *p) {
  for (int k = 0; k <= p->fft->half; k++)
    p->spectrum[k] = (v2d){__builtin_sqrt(p->spectrum[k][0]), __builtin_sqrt(p->spectrum[k][1])};
}

/* One sweep: segment s feeds the falling edge of mel bin s−1 and the rising edge of bin s. */
static void melEnergies(const Plan *p) {
  const v2d *spectrum = p->spectrum;
  v2d rising = splat(0);
  for (int s = 0; s <= p->bins; s++) {
    v2d up = splat(0), down = splat(0);
    for (int k = p->segmentStart[s], end = p->segmentStart[s + 1]; k < end; k++) {
      up += splat(p->upWeight[k]) * spectrum[k];
      down += splat(p->downWeight[k]) * spectrum[k];
    }
    if (s > 0) p->energies[s - 1] = rising + down;
    rising = up;
  }
}

/* ln(max(x, EPSILON)) by the table method of kaldi-fbank.ts; NaN and +Infinity pass through as their own log. */
static float logFloored(const Plan *p, double x) {
  if (x < EPSILON) return (float)(-23 * LN2); /* ln(2^-23) */
  unsigned long long bits;
  __builtin_memcpy(&bits, &x, 8);
  const unsigned high = (unsigned)(bits >> 32);
  const unsigned biased = high >> 20;
  if (biased == 2047) return (float)x;
  const unsigned j = (high >> 13) & 127;
  const double r = x * p->pow2Neg[biased] * p->invC[j] - 1;
  return (float)((double)((int)biased - 1023) * LN2 + p->lnC[j] +
                 r * (1 - r * (0.5 - r * (1.0 / 3 - r * (0.25 - r * 0.2)))));
}

static void store(const Plan *p, int lane, float *row) {
  for (int i = 0; i < p->bins; i++) {
    const double e = p->energies[i][lane];
    row[i] = p->useLog ? logFloored(p, e) : (float)e;
  }
}

/* wave[i] -= value in float32, as torch subtracts a float32 waveform's mean (four samples per instruction). */
__attribute__((export_name("subtract"))) void subtract(float *wave, int length, float value) {
  for (int i = 0; i < length; i++) wave[i] -= value;
}

/* frames × bins log-mel energies of `wave` (float32 samples) into `out`, row-major. */
__attribute__((export_name("fbank"))) void fbank(const Plan *p, const float *wave, int frames, float *out) {
  for (int m = 0; m < frames; m += 2) {
    const int second = m + 1 < frames ? m + 1 : m;
    loadFrames(p, wave + m * p->windowShift, wave + second * p->windowShift);
    powerSpectrum(p->fft, p->frame, p->spectrum);
    if (!p->usePower) magnitudes(p);
    melEnergies(p);
    store(p, 0, out + m * p->bins);
    if (second != m) store(p, 1, out + second * p->bins);
  }
}
