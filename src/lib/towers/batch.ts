/**
 * A tower's input for one batch of items, as both engines take it: token ids (n, L) for text, log-mels (n, T, 128)
 * for audio, pictures (n, R, R, 3) for images.
 */
import {NUM_MEL_BINS} from '../audio/mel-config.js'
import type {AudioConfig} from '../checkpoint/audio-config.js'
import {EOT_TOKEN, tokenize} from '../text/tokenizer.js'
import {UserError} from '../util/errors.js'
import type {TowerName} from './towers.js'

export type TowerBatch =
  {dtype: 'int32'; data: Int32Array; shape: number[]} | {dtype: 'float32'; data: Float32Array; shape: number[]}

/** What a batch's input depends on, per tower. */
export interface TowerSizes {
  contextLength?: number
  vocabSize?: number
  audioConfig?: AudioConfig
  imageResolution?: number
}

export function towerBatch(tower: TowerName, items: readonly (Float32Array | string)[], sizes: TowerSizes): TowerBatch {
  if (tower === 'text') {
    const {ids, shape} = paddedIds(items as string[], sizes.contextLength!, sizes.vocabSize!)
    return {dtype: 'int32', data: ids, shape}
  }
  const arrays = items as Float32Array[]
  if (tower === 'audio') {
    const frames = arrays[0].length / NUM_MEL_BINS
    const {patchSize} = sizes.audioConfig!
    if (frames < patchSize)
      throw new UserError(`audio tower expects (B, T >= ${patchSize}, ${NUM_MEL_BINS}) input, got T = ${frames}`)
    return {dtype: 'float32', data: stack(arrays), shape: [arrays.length, frames, NUM_MEL_BINS]} // shape = [n, T, 128]
  }
  const side = sizes.imageResolution!
  if (arrays[0].length !== side * side * 3)
    throw new UserError(`image tower expects ${side}x${side}x3 frames, got ${arrays[0].length} values`)
  return {dtype: 'float32', data: stack(arrays), shape: [arrays.length, side, side, 3]} // shape = [n, R, R, 3]
}

/** Equal-sized inputs end to end, as one batch. */
export function stack(arrays: Float32Array[]): Float32Array {
  const stacked = new Float32Array(arrays.length * arrays[0].length)
  arrays.forEach((a, k) => stacked.set(a, k * a.length))
  return stacked
}

/**
 * CLIP token ids padded to the batch's longest text: the causal mask hides the rest from the EOT token (docs/method.md §5.6).
 * A text tower with a smaller vocabulary than CLIP's tokenizer (a cut-down test model) cannot read them: refused here,
 * before an engine indexes its embedding table out of bounds.
 */
export function paddedIds(
  texts: string[],
  contextLength: number,
  vocabSize: number,
): {ids: Int32Array; shape: [number, number]} {
  const {ids} = tokenize(texts, contextLength)
  const outside = ids.findIndex((id) => id >= vocabSize)
  if (outside >= 0) {
    const text = texts[Math.floor(outside / contextLength)]
    throw new UserError(
      `the text tower has a vocabulary of ${vocabSize} tokens, but CLIP's tokenizer gives token ${ids[outside]} for ${JSON.stringify(text)}: a CLIP text tower has ${EOT_TOKEN + 1}`,
    )
  }
  let longest = 1
  for (let r = 0; r < texts.length; r++) {
    for (let c = contextLength - 1; c >= longest; c--) {
      if (ids[r * contextLength + c] !== 0) {
        longest = c + 1
        break
      }
    }
  }
  const trimmed = new Int32Array(texts.length * longest)
  for (let r = 0; r < texts.length; r++)
    trimmed.set(ids.subarray(r * contextLength, r * contextLength + longest), r * longest)
  return {ids: trimmed, shape: [texts.length, longest]} // shape = [n, longest]
}
