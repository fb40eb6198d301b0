import {UserError} from '../util/errors.js'
import {realFft, type RealFft} from './fft.js'

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

/** VIP-ANT's parameters (spec §3.4): torchaudio defaults plus htk_compat, use_energy=False, hanning, 128 bins, dither 0, shift 10. */
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

/** torch.finfo(torch.float32).eps: torchaudio floors the mel energies here before the log. */
const EPSILON = 1.1920928955078125e-7
/** torchaudio's blackman_coeff default; not an option because VIP-ANT uses Hann. */
const BLACKMAN_COEFF = 0.42
const MILLISECONDS_TO_SECONDS = 0.001
const WINDOW_TYPES: ReadonlySet<string> = new Set(['hanning', 'hamming', 'povey', 'rectangular', 'blackman'])

/** Everything that depends only on (sample rate, options), built once and reused for every clip. */
interface FbankPlan {
  windowShift: number
  windowSize: number
  paddedWindowSize: number
  window: Float64Array
  fft: RealFft
  /** One frame, zero beyond windowSize: the FFT's zero padding. */
  frame: Float64Array
  spectrum: Float64Array
  /** Sparse mel filterbank: bin i weights spectrum[melStart[i] + j] by melWeights[melOffset[i] + j], j < melLength[i]. */
  melStart: Int32Array
  melLength: Int32Array
  melOffset: Int32Array
  melWeights: Float64Array
}

const plans = new Map<string, FbankPlan>()

/** torchaudio.compliance.kaldi.fbank on one channel at its native rate. Returns (frames, numMelBins) row-major. */
export function kaldiFbank(
  waveform: Float32Array,
  sampleFrequency: number,
  options?: Partial<FbankOptions>,
): {data: Float32Array; frames: number; numMelBins: number} {
  const opts = resolveOptions(options)
  const plan = getPlan(sampleFrequency, opts)
  const {numMelBins} = opts
  // snip_edges: only frames that fit entirely. torchaudio asserts instead when the clip is shorter than one
  // window; returning no frames lets a caller pad such a clip like any other short one.
  const frames =
    waveform.length < plan.windowSize ? 0 : 1 + Math.floor((waveform.length - plan.windowSize) / plan.windowShift)
  const data = new Float32Array(frames * numMelBins)
  const {windowShift, windowSize, window, fft, frame, spectrum, melStart, melLength, melOffset, melWeights} = plan
  const preemphasis = opts.preemphasisCoefficient
  const spectrumBins = plan.paddedWindowSize / 2 + 1

  for (let m = 0; m < frames; m++) {
    const start = m * windowShift
    const mean = opts.removeDcOffset ? frameMean(waveform, start, windowSize) : 0
    // Pre-emphasis with replicate padding: the sample before the frame's first is the first itself.
    let previous = waveform[start] - mean
    for (let j = 0; j < windowSize; j++) {
      const current = waveform[start + j] - mean
      frame[j] = (current - preemphasis * previous) * window[j]
      previous = current
    }
    fft.powerSpectrum(frame, spectrum)
    if (!opts.usePower) for (let k = 0; k < spectrumBins; k++) spectrum[k] = Math.sqrt(spectrum[k])

    const row = m * numMelBins
    for (let i = 0; i < numMelBins; i++) {
      const offset = melOffset[i] - melStart[i]
      const end = melStart[i] + melLength[i]
      let energy = 0
      for (let k = melStart[i]; k < end; k++) energy += melWeights[offset + k] * spectrum[k]
      data[row + i] = opts.useLogFbank ? Math.log(energy > EPSILON ? energy : EPSILON) : energy
    }
  }
  return {data, frames, numMelBins}
}

/** Four partial sums break the add-latency chain, which otherwise bounds this loop in V8. */
function frameMean(waveform: Float32Array, start: number, size: number): number {
  let s0 = 0
  let s1 = 0
  let s2 = 0
  let s3 = 0
  let j = start
  const end = start + size
  for (; j + 3 < end; j += 4) {
    s0 += waveform[j]
    s1 += waveform[j + 1]
    s2 += waveform[j + 2]
    s3 += waveform[j + 3]
  }
  for (; j < end; j++) s0 += waveform[j]
  return (s0 + s1 + s2 + s3) / size
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
    throw new UserError(`fbank: invalid window type ${JSON.stringify(opts.windowType)}; use one of ${[...WINDOW_TYPES].join(', ')}`)
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
    throw new UserError(`fbank: a ${opts.frameLength} ms frame at ${sampleFrequency} Hz is ${windowSize} samples; it must be at least 2`)
  }
  if (!(windowShift > 0)) {
    throw new UserError(`fbank: a ${opts.frameShift} ms shift at ${sampleFrequency} Hz is ${windowShift} samples; it must be at least 1`)
  }
  const paddedWindowSize = opts.roundToPowerOfTwo ? nextPowerOfTwo(windowSize) : windowSize
  if (paddedWindowSize % 2 !== 0) {
    throw new UserError(`fbank: the padded window (${paddedWindowSize} samples) must be even; use roundToPowerOfTwo or change frameLength`)
  }
  if ((paddedWindowSize & (paddedWindowSize - 1)) !== 0) {
    throw new UserError(`fbank: roundToPowerOfTwo=false is only supported when the window is already a power of two, got ${paddedWindowSize} samples`)
  }

  const spectrumBins = paddedWindowSize / 2 + 1
  const bank = melBanks(opts.numMelBins, paddedWindowSize, sampleFrequency, opts.lowFreq, opts.highFreq)
  return {
    windowShift,
    windowSize,
    paddedWindowSize,
    window: featureWindowFunction(opts.windowType, windowSize),
    fft: realFft(paddedWindowSize),
    frame: new Float64Array(paddedWindowSize),
    spectrum: new Float64Array(spectrumBins),
    ...bank,
  }
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

const melScale = (freq: number): number => 1127 * Math.log(1 + freq / 700)

/**
 * torchaudio's get_mel_banks without VTLN, kept sparse: each triangle is nonzero on one contiguous run of FFT bins.
 * The Nyquist bin (k = n/2) has weight 0 in torchaudio, so the runs stop before it.
 */
function melBanks(
  numBins: number,
  paddedWindowSize: number,
  sampleFrequency: number,
  lowFreq: number,
  highFreq: number,
): Pick<FbankPlan, 'melStart' | 'melLength' | 'melOffset' | 'melWeights'> {
  const numFftBins = paddedWindowSize / 2
  const nyquist = 0.5 * sampleFrequency
  const high = highFreq <= 0 ? highFreq + nyquist : highFreq
  if (!(lowFreq >= 0 && lowFreq < nyquist && high > 0 && high <= nyquist && lowFreq < high)) {
    throw new UserError(
      `fbank: bad frequency range: lowFreq ${lowFreq} and highFreq ${highFreq} (${high} Hz) vs. Nyquist ${nyquist} Hz at ${sampleFrequency} Hz`,
    )
  }
  const fftBinWidth = sampleFrequency / paddedWindowSize
  const melLow = melScale(lowFreq)
  const melDelta = (melScale(high) - melLow) / (numBins + 1)
  const mel = new Float64Array(numFftBins)
  for (let k = 0; k < numFftBins; k++) mel[k] = melScale(fftBinWidth * k)

  const melStart = new Int32Array(numBins)
  const melLength = new Int32Array(numBins)
  const melOffset = new Int32Array(numBins)
  const weights: number[] = []
  for (let i = 0; i < numBins; i++) {
    const left = melLow + i * melDelta
    const center = melLow + (i + 1) * melDelta
    const right = melLow + (i + 2) * melDelta
    let first = -1
    let last = -1
    const row: number[] = []
    for (let k = 0; k < numFftBins; k++) {
      const w = Math.max(0, Math.min((mel[k] - left) / (center - left), (right - mel[k]) / (right - center)))
      row.push(w)
      if (w > 0) {
        if (first < 0) first = k
        last = k
      }
    }
    // A bin narrower than one FFT bin can be empty; it then contributes 0 energy, as in torchaudio.
    melStart[i] = first < 0 ? 0 : first
    melLength[i] = first < 0 ? 0 : last - first + 1
    melOffset[i] = weights.length
    for (let k = melStart[i]; k < melStart[i] + melLength[i]; k++) weights.push(row[k])
  }
  return {melStart, melLength, melOffset, melWeights: Float64Array.from(weights)}
}
