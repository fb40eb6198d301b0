import * as tf from '@tensorflow/tfjs-core'
import {loadModelFile, type CheckedModel} from '../checkpoint/load.js'
import {supplyTowers, type TowerName} from '../towers/towers.js'
import {UserError} from '../util/errors.js'
import {AudioEncoder} from './audio-encoder.js'
import {TextTransformer} from './clip-text.js'
import {VisionTransformer} from './clip-vision.js'

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
 * towers, a full CLIP; `clipModel` (`--clip`) supplies the CLIP towers `model` lacks (src/lib/towers/towers.ts).
 */
export async function loadTowers(needed: readonly TowerName[], model: string, clipModel: string): Promise<Towers> {
  const towers: Towers = {sources: {}}
  const holdsClipModel = (loaded: CheckedModel) => loaded.clip !== undefined && loaded.clip.size > 0
  await supplyTowers(needed, {model, clipModel}, loadModelFile, holdsClipModel, (tower, {file, opened: loaded}) => {
    if (tower === 'audio') {
      if (!loaded.audio)
        throw new UserError(`${file}: holds no audio tower (${loaded.format}); name an audio model with --model`)
      towers.audio = AudioEncoder.fromStateDict(loaded.audio.weights, loaded.audio.config)
    } else {
      if (!loaded.clip)
        throw new UserError(`${file}: holds no CLIP ${tower} tower (${loaded.format}); name a CLIP with --clip`)
      if (tower === 'text') towers.text = TextTransformer.fromStateDict(loaded.clip)
      else towers.image = VisionTransformer.fromStateDict(loaded.clip)
    }
    towers.sources[tower] = file
  })
  return towers
}

export function disposeTowers(towers: Towers): void {
  for (const t of [towers.audio, towers.text, towers.image]) t?.dispose()
  tf.disposeVariables()
}
