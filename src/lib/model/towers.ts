import * as tf from '@tensorflow/tfjs-core'
import {loadModelFile, type CheckedModel} from '../checkpoint/load.js'
import {resolveModel} from '../checkpoint/zoo.js'
import {UserError} from '../util/errors.js'
import {AudioEncoder} from './audio-encoder.js'
import {TextTransformer} from './clip-text.js'
import {VisionTransformer} from './clip-vision.js'

export type TowerName = 'audio' | 'text' | 'image'

/** The towers one run needs, each built once from whichever file supplies it. */
export interface Towers {
  audio?: AudioEncoder
  text?: TextTransformer
  image?: VisionTransformer
  /** Which file each tower came from, for the provenance record. */
  sources: Partial<Record<TowerName, string>>
}

/**
 * `model` names the audio tower (a VIP-ANT release, a vipant checkpoint) or, for the text and image
 * towers, a full CLIP; `clip` supplies the CLIP towers `model` lacks (VIP-ANT releases hold only audio).
 */
export async function loadTowers(needed: readonly TowerName[], model: string, clip: string): Promise<Towers> {
  const cache = new Map<string, CheckedModel>()
  const load = async (name: string) => {
    const file = await resolveModel(name)
    if (!cache.has(file)) cache.set(file, await loadModelFile(file))
    return {file, loaded: cache.get(file)!}
  }
  const towers: Towers = {sources: {}}
  for (const tower of needed) {
    const primary = await load(model)
    const supplier = tower === 'audio' || hasClip(primary.loaded) ? primary : await load(clip)
    const {file, loaded} = supplier
    if (tower === 'audio') {
      if (!loaded.audio) throw new UserError(`${file}: holds no audio tower (${loaded.format}); name an audio model with --model`)
      towers.audio = AudioEncoder.fromStateDict(loaded.audio.weights, loaded.audio.config)
    } else {
      if (!loaded.clip) throw new UserError(`${file}: holds no CLIP ${tower} tower (${loaded.format}); name a CLIP with --clip`)
      if (tower === 'text') towers.text = TextTransformer.fromStateDict(loaded.clip)
      else towers.image = VisionTransformer.fromStateDict(loaded.clip)
    }
    towers.sources[tower] = file
  }
  return towers
}

function hasClip(model: CheckedModel): boolean {
  return model.clip !== undefined && model.clip.size > 0
}

export function disposeTowers(towers: Towers): void {
  for (const t of [towers.audio, towers.text, towers.image]) t?.dispose()
  tf.disposeVariables()
}
