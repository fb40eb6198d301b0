import {UserError} from '../util/errors.js'
import {realFft} from './fft.js'
import {fbankHeap} from './wasm/fbank-heap.js'

/** Options of torchaudio.compliance.kaldi.fbank that VIP-ANT's path can reach (energy and VTLN options are not). */
export interface FbankOptions {
  /** Frame length in milliseconds. */
  frameLength: number
  /** Frame shift in milliseconds. */
  frameShift: number
  numMelBins: number
  preemphasisCoefficient: number
  removeDcOffset: boolean
  roundToPowerOfTwo: boolean
  /** Only true is supported: VIP-ANT never pads the edges, and reflection padding is not implemented. */
  snipEdges: boolean
  lowFreq: number
  /** 0 means Nyquist; a negative value is an offset below Nyquist, as in Kaldi. */
  highFreq: number
  windowType: 'hanning' | 'hamming' | 'povey' | 'rectangular' | 'blackman'
  useLogFbank: boolean
  usePower: boolean
  /** Only 0 is supported: dither is random and VIP-ANT turns it off. */
  dither: number
}

/** VIP-ANT's parameters (docs/method.md §3.4): torchaudio defaults plus htk_compat, use_energy=False, hanning, 128 bins, dither 0, shift 10. */
export const VIPANT_FBANK: FbankOptions = Object.freeze({
  frameLength: 25,
  frameShift: 10,
  numMelBins: 128,
  preemphasisCoefficient: 0.97,
  removeDcOffset: true,
  roundToPowerOfTwo: true,
  snipEdges: true,
  lowFreq: 20,
  highFreq: 0,
  windowType: 'hanning',
  useLogFbank: true,
  usePower: true,
  dither: 0,
})

/** torchaudio's blackman_coeff default; not an option because VIP-ANT uses Hann. */
const BLACKMAN_COEFF = 0.42
const MILLISECONDS_TO_SECONDS = 0.001
const WINDOW_TYPES: ReadonlySet<string> = new Set(['hanning', 'hamming', 'povey', 'rectangular', 'blackman'])

/**
 * Everything that depends only on (sample rate, options), built once per thread and kept in the fbank module's
 * memory: `address` is its C `Plan` struct (wasm/fbank.c).
 */
interface FbankPlan {
  address: number
  windowShift: number
  windowSize: number
}

const plans = new Map<string, FbankPlan>()

/**
 * torchaudio.compliance.kaldi.fbank on one channel at its native rate. Returns (frames, numMelBins) row-major: in
 * `out` when given, whose length then bounds the frames computed (a caller that keeps the first N frames need not
 * compute the rest), else in a new array. `offset` is subtracted from every sample first, in float32 (VIP-ANT
 * removes the waveform's mean before the fbank).
 *
 * Per frame: the mean removed, pre-emphasis with replicate padding (the sample before the frame's first is the first
 * itself), the window, zero padding to the FFT size, the power spectrum, the mel filterbank as one sweep over the
 * spectrum, and ln(max(energy, torch.finfo(torch.float32).eps)), torchaudio's floor. That loop runs in wasm/fbank.c,
 * two frames at a time in float64.
 */
export function kaldiFbank(
  waveform: Float32Array,
  sampleFrequency: number,
  options?: Partial<FbankOptions>,
  out?: Float32Array,
  offset = 0,
): {data: Float32Array; frames: number; numMelBins: number} {
  const opts = resolveOptions(options)
  const plan = getPlan(sampleFrequency, opts)
  const {numMelBins} = opts
  // snip_edges: only frames that fit entirely. torchaudio asserts instead when the clip is shorter than one
  // window; returning no frames lets a caller pad such a clip like any other short one.
  const fit =
    waveform.length < plan.windowSize ? 0 : 1 + Math.floor((waveform.length - plan.windowSize) / plan.windowShift)
  const frames = out ? Math.min(fit, Math.floor(out.length / numMelBins)) : fit
  // Only the samples the computed frames read are copied into the module's memory.
  const samples = frames === 0 ? 0 : (frames - 1) * plan.windowShift + plan.windowSize
  const heap = fbankHeap()
  const wave = heap.scratch(4 * samples + 4 * frames * numMelBins)
  const result = wave + 4 * samples
  heap.f32(wave, samples).set(waveform.subarray(0, samples))
  if (offset !== 0) heap.exports.subtract(wave, samples, offset)
  heap.exports.fbank(plan.address, wave, frames, result)
  const values = heap.f32(result, frames * numMelBins)
  const data = out ? out.subarray(0, values.length) : new Float32Array(values.length)
  data.set(values)
  return {data, frames, numMelBins}
}

/**
 * The log's tables (wasm/fbank.c logFloored): Math.log is an out-of-line call, and the module has no libm, so the
 * log reads the exponent e and the top 7 mantissa bits j from the float's own bits and uses a table:
 * ln(x) = e·ln 2 + ln(c_j) + ln(1 + r), |r| <= 1/256, where 5 terms of the series are exact to ~1e-15.
 * POW2_NEG[b] = 2^-(b-1023) scales a double with biased exponent b into [1, 2); c_j = 1 + (j + 1/2)/128 is the
 * centre of the j-th of 128 slices of the mantissa range [1, 2).
 */
const POW2_NEG = Float64Array.from({length: 2047}, (_, b) => Math.pow(2, 1023 - b))
const INV_C = Float64Array.from({length: 128}, (_, j) => 1 / (1 + (j + 0.5) / 128))
const LN_C = Float64Array.from({length: 128}, (_, j) => Math.log(1 + (j + 0.5) / 128))
let logTables: number[] | undefined

/** Addresses of the log's tables in this thread's fbank module, written once. */
function logTableAddresses(): number[] {
  if (logTables === undefined) {
    const heap = fbankHeap()
    logTables = [POW2_NEG, INV_C, LN_C].map((table) => {
      const at = heap.allocate(8 * table.length)
      heap.f64(at, table.length).set(table)
      return at
    })
  }
  return logTables
}

function resolveOptions(options: Partial<FbankOptions> | undefined): FbankOptions {
  const opts: FbankOptions = {...VIPANT_FBANK}
  // Copy key by key so that an explicit `undefined` keeps the default instead of erasing it.
  for (const [key, value] of Object.entries(options ?? {})) {
    if (value !== undefined) (opts as unknown as Record<string, unknown>)[key] = value
  }
  return opts
}

function getPlan(sampleFrequency: number, opts: FbankOptions): FbankPlan {
  const key = `${sampleFrequency}|${JSON.stringify(opts)}`
  let plan = plans.get(key)
  if (plan === undefined) {
    plan = buildPlan(sampleFrequency, opts)
    plans.set(key, plan)
  }
  return plan
}

/** The checks torchaudio makes (as asserts) plus the options this port does not implement, as UserErrors. */
function buildPlan(sampleFrequency: number, opts: FbankOptions): FbankPlan {
  if (!(Number.isFinite(sampleFrequency) && sampleFrequency > 0)) {
    throw new UserError(`fbank: sample frequency must be a positive number, got ${sampleFrequency}`)
  }
  if (!opts.snipEdges) throw new UserError('fbank: snipEdges=false is not supported (VIP-ANT uses snip_edges=True)')
  if (opts.dither !== 0) throw new UserError(`fbank: dither must be 0 (VIP-ANT uses dither=0.0), got ${opts.dither}`)
  if (!WINDOW_TYPES.has(opts.windowType)) {
    throw new UserError(
      `fbank: invalid window type ${JSON.stringify(opts.windowType)}; use one of ${[...WINDOW_TYPES].join(', ')}`,
    )
  }
  if (!(opts.preemphasisCoefficient >= 0 && opts.preemphasisCoefficient <= 1)) {
    throw new UserError(`fbank: preemphasisCoefficient must be in [0, 1], got ${opts.preemphasisCoefficient}`)
  }
  if (!(Number.isInteger(opts.numMelBins) && opts.numMelBins > 3)) {
    throw new UserError(`fbank: numMelBins must be an integer > 3, got ${opts.numMelBins}`)
  }
  // Same expression and evaluation order as torchaudio, so the truncation lands on the same integer.
  const windowShift = Math.trunc(sampleFrequency * opts.frameShift * MILLISECONDS_TO_SECONDS)
  const windowSize = Math.trunc(sampleFrequency * opts.frameLength * MILLISECONDS_TO_SECONDS)
  if (!(windowSize >= 2)) {
    throw new UserError(
      `fbank: a ${opts.frameLength} ms frame at ${sampleFrequency} Hz is ${windowSize} samples; it must be at least 2`,
    )
  }
  if (!(windowShift > 0)) {
    throw new UserError(
      `fbank: a ${opts.frameShift} ms shift at ${sampleFrequency} Hz is ${windowShift} samples; it must be at least 1`,
    )
  }
  const paddedWindowSize = opts.roundToPowerOfTwo ? nextPowerOfTwo(windowSize) : windowSize
  if (paddedWindowSize % 2 !== 0) {
    throw new UserError(
      `fbank: the padded window (${paddedWindowSize} samples) must be even; use roundToPowerOfTwo or change frameLength`,
    )
  }
  if (paddedWindowSize < 8) {
    throw new UserError(
      `fbank: a padded window of ${paddedWindowSize} samples is too short (this port needs at least 8)`,
    )
  }
  if ((paddedWindowSize & (paddedWindowSize - 1)) !== 0) {
    throw new UserError(
      `fbank: roundToPowerOfTwo=false is only supported when the window is already a power of two, got ${paddedWindowSize} samples`,
    )
  }

  const half = paddedWindowSize / 2
  const {segmentStart, upWeight, downWeight} = melBanks(
    opts.numMelBins,
    paddedWindowSize,
    sampleFrequency,
    opts.lowFreq,
    opts.highFreq,
  )
  const heap = fbankHeap()
  const store = (values: Float64Array | Int32Array) => {
    const at = heap.allocate(values.BYTES_PER_ELEMENT * values.length)
    if (values instanceof Int32Array) heap.i32(at, values.length).set(values)
    else heap.f64(at, values.length).set(values)
    return at
  }
  const pointers = [
    realFft(paddedWindowSize).address,
    store(featureWindowFunction(opts.windowType, windowSize)),
    store(segmentStart),
    store(upWeight),
    store(downWeight),
    ...logTableAddresses(),
    heap.allocate(16 * paddedWindowSize), // frame: two lanes, zero beyond windowSize
    heap.allocate(16 * (half + 1)), // spectrum
    heap.allocate(16 * opts.numMelBins), // energies
  ]
  const flags = [opts.removeDcOffset, opts.usePower, opts.useLogFbank].map(Number)
  const address = heap.allocate(8 + 4 * (6 + pointers.length))
  // struct Plan: preemphasis; windowSize, windowShift, bins, removeDcOffset, usePower, useLog; then the pointers.
  heap.writeStruct(
    address,
    [opts.preemphasisCoefficient],
    [windowSize, windowShift, opts.numMelBins, ...flags, ...pointers],
  )
  return {address, windowShift, windowSize}
}

/** torchaudio's _next_power_of_2: the smallest power of two >= x. */
function nextPowerOfTwo(x: number): number {
  let p = 1
  while (p < x) p *= 2
  return p
}

/** torchaudio's _feature_window_function; Hann and Hamming are the symmetric (periodic=False) forms. */
function featureWindowFunction(windowType: FbankOptions['windowType'], size: number): Float64Array {
  const window = new Float64Array(size)
  const a = (2 * Math.PI) / (size - 1)
  for (let j = 0; j < size; j++) {
    const hann = 0.5 - 0.5 * Math.cos(a * j)
    switch (windowType) {
      case 'hanning':
        window[j] = hann
        break
      case 'hamming':
        window[j] = 0.54 - 0.46 * Math.cos(a * j)
        break
      case 'povey':
        window[j] = Math.pow(hann, 0.85)
        break
      case 'rectangular':
        window[j] = 1
        break
      case 'blackman':
        window[j] = BLACKMAN_COEFF - 0.5 * Math.cos(a * j) + (0.5 - BLACKMAN_COEFF) * Math.cos(2 * a * j)
        break
    }
  }
  return window
}

const f32 = Math.fround

/**
 * torchaudio's get_mel_banks without VTLN, in a form that needs three loads per FFT bin. Bin i's triangle rises on
 * [b_i, b_i+1) and falls on [b_i+1, b_i+2), where b_s = mel(lowFreq) + s·Δ. So every FFT bin in segment [b_s, b_s+1)
 * has a rising weight in bin s and a falling one in bin s−1. Bins outside [b_0, b_n+1) and the Nyquist bin (k = n/2)
 * have weight 0.
 *
 * torchaudio builds these weights in float32 even when the waveform is float64, and near a triangle's edge the float32
 * rounding of an FFT bin's mel value (~1e-4 mel) moves its small weight by a relative 1e-3 or more: enough to shift a
 * mel bin dominated by such an edge bin by ~4e-4 in the log. So the boundaries, the mel value of each FFT bin and both
 * slopes are rounded to float32 at every step, in torchaudio's order; the result equals torchaudio's bank bit for bit
 * except where its vectorised float32 log is one ulp off the correctly rounded one (a few FFT bins per rate).
 */
function melBanks(
  numBins: number,
  paddedWindowSize: number,
  sampleFrequency: number,
  lowFreq: number,
  highFreq: number,
): {segmentStart: Int32Array; upWeight: Float64Array; downWeight: Float64Array} {
  const numFftBins = paddedWindowSize / 2
  const nyquist = 0.5 * sampleFrequency
  const high = highFreq <= 0 ? highFreq + nyquist : highFreq
  if (!(lowFreq >= 0 && lowFreq < nyquist && high > 0 && high <= nyquist && lowFreq < high)) {
    throw new UserError(
      `fbank: bad frequency range: lowFreq ${lowFreq} and highFreq ${highFreq} (${high} Hz) vs. Nyquist ${nyquist} Hz at ${sampleFrequency} Hz`,
    )
  }
  // Python floats (double) up to here, as in torchaudio; tensors (float32) from here on.
  const melLow = 1127 * Math.log(1 + lowFreq / 700)
  const melDelta = (1127 * Math.log(1 + high / 700) - melLow) / (numBins + 1)
  const boundary = (s: number) => f32(f32(melLow) + f32(s * f32(melDelta)))
  const fftBinWidth = f32(sampleFrequency / paddedWindowSize)
  const melOf = (k: number) => f32(1127 * f32(Math.log(f32(1 + f32(f32(fftBinWidth * k) / 700)))))

  const segmentStart = new Int32Array(numBins + 2)
  const upWeight = new Float64Array(numFftBins)
  const downWeight = new Float64Array(numFftBins)
  let k = 0
  while (k < numFftBins && melOf(k) < boundary(0)) k++
  for (let s = 0; s <= numBins; s++) {
    segmentStart[s] = k
    const lower = boundary(s)
    const upper = boundary(s + 1)
    const width = f32(upper - lower)
    for (; k < numFftBins; k++) {
      const mel = melOf(k)
      if (mel >= upper) break
      upWeight[k] = f32(f32(mel - lower) / width)
      downWeight[k] = f32(f32(upper - mel) / width)
    }
  }
  segmentStart[numBins + 1] = k
  return {segmentStart, upWeight, downWeight}
}
