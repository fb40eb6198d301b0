/**
 * A tower graph's input for one batch of items, as the graphs of this folder take it: token ids (n, L) for text,
 * log-mels (n, T, 128) for audio (whose graph is built per patch grid), pictures (n, R, R, 3) for images.
 */
import type * as Ort from 'onnxruntime-node'
import type {AudioConfig} from '../checkpoint/audio-config.js'
import {NUM_MEL_BINS} from '../audio/mel-config.js'
import {paddedIds, stack} from '../model/embedder.js'
import type {Grid} from '../model/pos-embedding.js'
import type {TowerName} from '../model/towers.js'
import {UserError} from '../util/errors.js'
import {audioGrid} from './audio-encoder.js'
import type {Session} from './runtime.js'

/** What a batch's input depends on, per tower. */
export interface TowerSizes {
  contextLength?: number
  vocabSize?: number
  audioConfig?: AudioConfig
  imageResolution?: number
}

/** The input tensor, and for audio the patch grid whose graph must run it. */
export function towerInput(ort: typeof Ort, tower: TowerName, items: readonly (Float32Array | string)[], sizes: TowerSizes): {input: Ort.Tensor; grid?: Grid} {
  if (tower === 'text') {
    const {ids, shape} = paddedIds(items as string[], sizes.contextLength!, sizes.vocabSize!)
    return {input: new ort.Tensor('int32', ids, shape)}
  }
  const arrays = items as Float32Array[]
  if (tower === 'audio') {
    const frames = arrays[0].length / NUM_MEL_BINS
    const {patchSize} = sizes.audioConfig!
    if (frames < patchSize) throw new UserError(`audio tower expects (B, T >= ${patchSize}, ${NUM_MEL_BINS}) input, got T = ${frames}`)
    return {input: new ort.Tensor('float32', stack(arrays), [arrays.length, frames, NUM_MEL_BINS]), grid: audioGrid(frames, sizes.audioConfig!)} // shape = [n, T, 128]
  }
  const side = sizes.imageResolution!
  if (arrays[0].length !== side * side * 3) throw new UserError(`image tower expects ${side}x${side}x3 frames, got ${arrays[0].length} values`)
  return {input: new ort.Tensor('float32', stack(arrays), [arrays.length, side, side, 3])} // shape = [n, R, R, 3]
}

/** A one-input, one-output session's output: (n, E) end to end. */
export async function runTower(session: Session, input: Ort.Tensor): Promise<Float32Array> {
  return (await session.run({[session.inputNames[0]]: input}))[session.outputNames[0]].data as Float32Array
}
