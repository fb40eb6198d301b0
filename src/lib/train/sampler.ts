/**
 * Which clips a step trains on and what it draws for each: a pure function of (seed, step), so a resumed run
 * draws exactly what the uninterrupted one would have. Each epoch visits the clips in a seeded permutation,
 * the last batch smaller (drop_last=False, as the original), except that a last batch of one clip joins the
 * batch before it: alone it has no negatives, so its contrastive loss and gradient are 0 and the step would
 * only replay the optimiser's momentum. Each clip gets one random frame, one random caption,
 * a random crop when the table's log-mels are longer than the tower's input, and SpecAugment (docs/method.md §11).
 */
import {NUM_MEL_BINS} from '../audio/mel-config.js'
import {randint, rngFor, type Rng} from '../util/rng.js'
import type {Clip, TowerName} from './pair-table.js'
import {specAugment} from './spec-augment.js'

/** A tower's input for one clip: a log-mel or a frame (trainable tower), a caption, or a frozen tower's embedding. */
export type Item = Float32Array | string

export function stepsPerEpoch(clips: number, batchSize: number): number {
  const steps = Math.ceil(clips / batchSize)
  return steps > 1 && clips % batchSize === 1 ? steps - 1 : steps
}

/** Whether an epoch's last batch is one clip that joins the batch before it (see stepsPerEpoch). */
export function mergesLoneClip(clips: number, batchSize: number): boolean {
  return stepsPerEpoch(clips, batchSize) < Math.ceil(clips / batchSize)
}

export function permutation(n: number, rng: Rng): number[] {
  const order = Array.from({length: n}, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = randint(rng, 0, i + 1)
    ;[order[i], order[j]] = [order[j], order[i]]
  }
  return order
}

export class Sampler {
  private epochOrder: {epoch: number; order: number[]} | undefined

  constructor(
    readonly clips: number,
    readonly batchSize: number,
    readonly seed: number,
  ) {}

  get stepsPerEpoch(): number {
    return stepsPerEpoch(this.clips, this.batchSize)
  }

  /** The epoch of `step` and the clip indices of its batch. */
  batch(step: number): {epoch: number; indices: number[]} {
    const epoch = Math.floor(step / this.stepsPerEpoch)
    if (this.epochOrder?.epoch !== epoch)
      this.epochOrder = {epoch, order: permutation(this.clips, rngFor(this.seed, `epoch:${epoch}`))}
    const k = step % this.stepsPerEpoch
    const start = k * this.batchSize
    // The epoch's last batch takes every clip left, a lone last clip included.
    const end = k === this.stepsPerEpoch - 1 ? this.clips : start + this.batchSize
    return {epoch, indices: this.epochOrder.order.slice(start, end)}
  }
}

export interface ItemOptions {
  /** Frames the audio tower takes. */
  frames: number
  freqMask: number
  timeMask: number
}

/**
 * One clip's input to `tower` for a training step (`rng` given: random frame, caption, crop, SpecAugment) or for
 * evaluation (`rng` null: the middle frame `ceil(n/2) - 1`, the first caption, the centre crop, no augmentation).
 */
export function clipItem(clip: Clip, tower: TowerName, options: ItemOptions, rng: Rng | null): Item {
  if (tower === 'audio') return audioItem(clip, options, rng)
  const raw = tower === 'image' ? clip.frames : clip.captions
  const embedded = tower === 'image' ? clip.frameEmb : clip.captionEmb
  const count = (embedded ?? raw)!.length
  const k = rng ? randint(rng, 0, count) : tower === 'image' ? Math.ceil(count / 2) - 1 : 0
  return (embedded ?? raw)![k]
}

function audioItem(clip: Clip, {frames, freqMask, timeMask}: ItemOptions, rng: Rng | null): Float32Array {
  const length = clip.mel!.length / NUM_MEL_BINS
  let mel = clip.mel!
  if (length > frames) {
    const spare = Math.max(0, Math.min(clip.melFrames ?? length, length) - frames)
    const offset = rng ? randint(rng, 0, spare + 1) : Math.floor(spare / 2)
    mel = mel.subarray(offset * NUM_MEL_BINS, (offset + frames) * NUM_MEL_BINS)
  }
  return rng ? specAugment(mel, NUM_MEL_BINS, freqMask, timeMask, rng) : mel
}

/** The generator for one clip's draws at one step. */
export function clipRng(seed: number, step: number, clip: number): Rng {
  return rngFor(seed, `step:${step}:clip:${clip}`)
}
