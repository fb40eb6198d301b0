/** A tower graph's input for one batch of items (src/lib/towers/batch.ts) as an ONNX Runtime tensor. */
import type * as Ort from 'onnxruntime-node'
import type {Grid} from '../checkpoint/audio-config.js'
import {patchGrid} from '../towers/audio.js'
import {towerBatch, type TowerSizes} from '../towers/batch.js'
import type {TowerName} from '../towers/towers.js'
import type {Session} from './runtime.js'

/** The input tensor, and for audio the patch grid whose graph must run it. */
export function towerInput(
  ort: typeof Ort,
  tower: TowerName,
  items: readonly (Float32Array | string)[],
  sizes: TowerSizes,
): {input: Ort.Tensor; grid?: Grid} {
  const batch = towerBatch(tower, items, sizes)
  const input = new ort.Tensor(batch.dtype, batch.data, batch.shape)
  return tower === 'audio' ? {input, grid: patchGrid(sizes.audioConfig!, batch.shape[1])} : {input}
}

/** A one-input, one-output session's output: (n, E) end to end. */
export async function runTower(session: Session, input: Ort.Tensor): Promise<Float32Array> {
  return (await session.run({[session.inputNames[0]]: input}))[session.outputNames[0]].data as Float32Array
}
