/**
 * Sounds of the world: a concept's acoustic signature with seeded variation in pitch (±4 %), pace (±10 %),
 * level, onset, offset and background hiss, so no two clips of a concept are the same waveform.
 */
import type {Rng} from '../../util/rng.js'
import type {Signature} from './concepts.js'

export interface SoundFormat {
  sampleRate: number
  /** Seconds. */
  duration: number
}

const PIP_SECONDS = 0.03
const FADE_SECONDS = 0.01
/** The fraction of each period a noise burst is on. */
const BURST_DUTY = 0.4
const BUZZ_HARMONICS = 12

const white = (rng: Rng) => rng() * 2 - 1

/** Band-limited noise: white noise through an RBJ band-pass biquad (0 dB peak), twice for steeper skirts. */
function bandNoise(n: number, low: number, high: number, sampleRate: number, rng: Rng): Float32Array {
  const centre = Math.sqrt(low * high)
  const w = (2 * Math.PI * centre) / sampleRate
  const alpha = (Math.sin(w) * (high - low)) / (2 * centre)
  const [b0, a0, a1, a2] = [alpha, 1 + alpha, -2 * Math.cos(w), 1 - alpha]
  const x = Float32Array.from({length: n}, () => white(rng))
  for (let pass = 0; pass < 2; pass++) {
    let x1 = 0,
      x2 = 0,
      y1 = 0,
      y2 = 0
    for (let i = 0; i < n; i++) {
      const y = (b0 * x[i] - b0 * x2 - a1 * y1 - a2 * y2) / a0
      x2 = x1
      x1 = x[i]
      y2 = y1
      y1 = y
      x[i] = y
    }
  }
  return x
}

/** A tone whose frequency follows HZ(i) at sample i, by phase accumulation (no clicks when it jumps). */
function sweep(n: number, sampleRate: number, hz: (i: number) => number, rng: Rng): Float32Array {
  const out = new Float32Array(n)
  let phase = rng() * 2 * Math.PI
  for (let i = 0; i < n; i++) {
    out[i] = Math.sin(phase)
    phase += (2 * Math.PI * hz(i)) / sampleRate
  }
  return out
}

/**
 * A sawtooth-like harmonic complex, sum of sin(k theta) / k for k <= BUZZ_HARMONICS, theta advancing by STEP per
 * sample; the harmonics come from the recurrence sin(k theta) = 2 cos(theta) sin((k-1) theta) - sin((k-2) theta)
 * rather than a sine call each.
 */
function buzz(n: number, step: number, phase: number): Float32Array {
  const out = new Float32Array(n)
  for (let i = 0, theta = phase; i < n; i++, theta += step) {
    const twoCos = 2 * Math.cos(theta)
    let previous = 0
    let current = Math.sin(theta)
    let sum = 0
    for (let k = 1; k <= BUZZ_HARMONICS; k++) {
      sum += current / k
      const next = twoCos * current - previous
      previous = current
      current = next
    }
    out[i] = sum
  }
  return out
}

/** Hann-windowed tone pips of PIP_SECONDS at the given start times (seconds). */
function pips(n: number, sampleRate: number, hz: number, times: number[]): Float32Array {
  const out = new Float32Array(n)
  const len = Math.round(PIP_SECONDS * sampleRate)
  for (const t of times) {
    const start = Math.round(t * sampleRate)
    for (let j = 0; j < len && start + j < n; j++) {
      out[start + j] += Math.sin((2 * Math.PI * hz * j) / sampleRate) * 0.5 * (1 - Math.cos((2 * Math.PI * j) / len))
    }
  }
  return out
}

/** Event times in [0, seconds): every 1/rate from a random phase, or, irregular, exponential gaps of mean 1/rate. */
function eventTimes(seconds: number, rate: number, regular: boolean, rng: Rng): number[] {
  const times: number[] = []
  for (let t = rng() / rate; t < seconds - PIP_SECONDS;) {
    times.push(t)
    t += regular ? 1 / rate : Math.max(PIP_SECONDS * 2, -Math.log(1 - rng()) / rate)
  }
  return times
}

/** The signature's waveform over N samples, peak-normalised, before level and hiss. */
function signal(s: Signature, n: number, sampleRate: number, pitch: number, pace: number, rng: Rng): Float32Array {
  const seconds = n / sampleRate
  const time = (i: number) => i / sampleRate
  switch (s.kind) {
    case 'tone':
      return sweep(n, sampleRate, () => s.hz * pitch, rng)
    case 'chirp': // exponential: equal time per octave, as the ear hears a steady glide
      return sweep(n, sampleRate, (i) => s.from * pitch * (s.to / s.from) ** (i / n), rng)
    case 'pips':
      return pips(n, sampleRate, s.hz * pitch, eventTimes(seconds, s.rate * pace, s.regular, rng))
    case 'bursts': {
      const noise = bandNoise(n, s.low * pitch, s.high * pitch, sampleRate, rng)
      const rate = s.rate * pace
      const offset = rng()
      return noise.map((x, i) => ((time(i) * rate + offset) % 1 < BURST_DUTY ? x : 0))
    }
    case 'am': {
      const rate = s.rate * pace
      const offset = rng() * 2 * Math.PI
      return sweep(n, sampleRate, () => s.hz * pitch, rng).map(
        (x, i) => x * (1 + 0.8 * Math.sin(2 * Math.PI * rate * time(i) + offset)),
      )
    }
    case 'buzz':
      return buzz(n, (2 * Math.PI * s.hz * pitch) / sampleRate, rng() * 2 * Math.PI)
    case 'siren': {
      const rate = s.rate * pace
      const offset = rng()
      return sweep(n, sampleRate, (i) => ((time(i) * rate + offset) % 1 < 0.5 ? s.low : s.high) * pitch, rng)
    }
    case 'rumble':
      return bandNoise(n, s.low * pitch, s.high * pitch, sampleRate, rng)
  }
}

/** One clip of a signature, in [-1, 1]: silence, the sound (faded in and out), silence, under a faint hiss. */
export function synthesiseSound(s: Signature, {sampleRate, duration}: SoundFormat, rng: Rng): Float32Array {
  const n = Math.round(sampleRate * duration)
  const pitch = 1 + white(rng) * 0.04
  const pace = 1 + white(rng) * 0.1
  const level = 0.2 + rng() * 0.3
  const hiss = 0.003 + rng() * 0.009
  const start = Math.floor(rng() * 0.25 * sampleRate)
  const end = n - Math.floor(rng() * 0.25 * sampleRate)
  const body = signal(s, end - start, sampleRate, pitch, pace, rng)
  const peak = body.reduce((m, x) => Math.max(m, Math.abs(x)), 0) || 1
  const fade = Math.round(FADE_SECONDS * sampleRate)
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    const j = i - start
    const inside = j >= 0 && j < body.length
    const ramp = inside ? Math.min(1, (j + 1) / fade, (body.length - j) / fade) : 0
    out[i] = (inside ? (level * ramp * body[j]) / peak : 0) + hiss * white(rng)
  }
  return out
}
