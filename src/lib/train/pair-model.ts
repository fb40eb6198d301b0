/**
 * The two towers a run matches and the loss head's logit scale. The trainable towers hold tf.Variables; a frozen
 * tower runs once per distinct input, ahead of training (its outputs never change), so steps only gather.
 */
import * as tf from '@tensorflow/tfjs-core'
import type {AudioConfig} from '../checkpoint/audio-config.js'
import type {LoadedModel} from '../checkpoint/load.js'
import type {Tensor} from '../checkpoint/tensor.js'
import {AudioEncoder} from '../model/audio-encoder.js'
import {TextTransformer} from '../model/clip-text.js'
import {VisionTransformer} from '../model/clip-vision.js'
import {forward} from '../model/embedder.js'
import {asIs, stateDictOf, type Parameter} from '../model/parameters.js'
import {stack} from '../towers/batch.js'
import type {TowerName} from './pair-table.js'
import type {Item} from './sampler.js'

type Tower = AudioEncoder | VisionTransformer | TextTransformer

export class PairModel {
  readonly logitScale: tf.Variable<tf.Rank.R0>

  constructor(
    /** The trainable towers, by name. */
    readonly trainable: Partial<Record<TowerName, Tower>>,
    /** The frozen towers that some input still needs (absent when the table holds their embeddings). */
    readonly frozen: Partial<Record<TowerName, Tower>>,
    logitScale: number,
    readonly audioConfig?: AudioConfig,
  ) {
    this.logitScale = tf.variable(tf.scalar(logitScale, 'float32'), true) as tf.Variable<tf.Rank.R0>
    // One step tapes every trainable tower in the same heap.
    const towers = Object.values(trainable)
    for (const tower of towers) tower.transformer.heapShare = 1 / towers.length
  }

  /** Every trainable parameter under its checkpoint name (`audio.*`/`clip.*` as in vipant's format), the logit scale last. */
  parameters(): Parameter[] {
    const {audio, image, text} = this.trainable
    return [
      ...((audio as AudioEncoder | undefined)?.parameters() ?? []),
      ...((image as VisionTransformer | undefined)?.parameters() ?? []),
      ...((text as TextTransformer | undefined)?.parameters() ?? []),
      asIs('logit_scale', this.logitScale),
    ]
  }

  /** (n, E) embeddings, not normalised: a trainable tower's forward pass, or a frozen tower's stored outputs stacked. */
  embed(tower: TowerName, items: readonly Item[]): tf.Tensor2D {
    const model = this.trainable[tower]
    if (!model) return tf.tensor2d(stack(items as Float32Array[]), [items.length, (items[0] as Float32Array).length])
    return tf.tidy(() => forward({[tower]: model, sources: {}}, tower, items as (Float32Array | string)[]))
  }

  /** A frozen tower's forward pass (run once per input, ahead of training). */
  embedFrozen(tower: TowerName, items: readonly Item[]): tf.Tensor2D {
    return tf.tidy(() => forward({[tower]: this.frozen[tower], sources: {}}, tower, items as (Float32Array | string)[]))
  }

  /** What a checkpoint stores: the trainable towers and the logit scale, in vipant's format. */
  checkpoint(source: Record<string, unknown>): LoadedModel {
    const weights = stateDictOf(this.parameters().filter((p) => p.name !== 'logit_scale'))
    const logitScale = this.logitScale.dataSync()[0]
    const model: LoadedModel = {
      format: 'vipant',
      logitScale,
      info: {source: {format: 'vipant-train', file: '', ...source}},
    }
    if (this.trainable.audio) model.audio = {weights, config: this.audioConfig!}
    else
      model.clip = new Map<string, Tensor>([
        ...weights,
        ['logit_scale', {shape: [], dtype: 'float32', data: Float32Array.of(logitScale)}],
      ])
    return model
  }

  dispose(): void {
    for (const tower of [...Object.values(this.trainable), ...Object.values(this.frozen)]) tower?.dispose()
    this.logitScale.dispose()
  }
}

/** Trainable towers from weights in vipant's layout: an audio tower, else a CLIP's image and text towers. */
export function trainableTowers(weights: Pick<LoadedModel, 'audio' | 'clip'>): PairModel['trainable'] {
  if (weights.audio) return {audio: AudioEncoder.fromStateDict(weights.audio.weights, weights.audio.config, true)}
  return {
    image: VisionTransformer.fromStateDict(weights.clip!, 'visual', true),
    text: TextTransformer.fromStateDict(weights.clip!, true),
  }
}

/**
 * Outputs for many inputs, in fixed chunks and order so every run computes the same values; `embed` gives a chunk's
 * (n, E) outputs end to end (tensorValues for a tfjs tower).
 */
export async function embedAll(
  embed: (items: readonly Item[]) => Float32Array | Promise<Float32Array>,
  items: readonly Item[],
  chunk = 16,
): Promise<Float32Array[]> {
  const out: Float32Array[] = []
  for (let start = 0; start < items.length; start += chunk) {
    const part = items.slice(start, start + chunk)
    const values = await embed(part)
    const dim = values.length / part.length
    for (let k = 0; k < part.length; k++) out.push(values.slice(k * dim, (k + 1) * dim))
  }
  return out
}

/** A tensor's values, the tensor disposed. */
export function tensorValues(t: tf.Tensor): Float32Array {
  const values = t.dataSync() as Float32Array
  t.dispose()
  return values
}
