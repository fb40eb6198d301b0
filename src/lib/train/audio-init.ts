/**
 * Where the audio tower starts (docs/method.md §5.4, §5.5): from CLIP's image tower at VA start (`CLIPAudioHead.copy_state_dict`),
 * or from a trained audio head whose positional embedding is adapted to the training input length.
 */
import type {AudioConfig} from '../checkpoint/audio-config.js'
import {DEFAULT_AUDIO_CONFIG} from '../checkpoint/audio-config.js'
import type {StateDict} from '../checkpoint/tensor.js'
import {patchGrid} from '../towers/audio.js'
import {interpClipVpEmbedding, loadPosEmbedding} from '../towers/pos-embedding.js'
import {UserError} from '../util/errors.js'

/** CLIP `visual.*` name -> VIP-ANT audio-head name. */
function audioName(visualName: string): string {
  const rules: [RegExp, string][] = [
    [/^conv1\.weight$/, 'pre_encoder.conv1.weight'],
    [/^proj$/, 'post_encoder.proj'],
    [/^positional_embedding$/, 'misc.positional_embedding'],
    [/^class_embedding$/, 'misc.class_embedding'],
    [/^transformer\./, 'encoder.'],
    [/^ln_pre\./, 'pre_encoder.ln.'],
    [/^ln_post\./, 'post_encoder.ln.'],
  ]
  for (const [from, to] of rules) if (from.test(visualName)) return visualName.replace(from, to)
  throw new UserError(`CLIP image tower: unexpected weight visual.${visualName}`)
}

/** The audio config for `frames`-long log-mels: VIP-ANT's patch and stride. */
export function audioConfigFor(frames: number, patchSize = DEFAULT_AUDIO_CONFIG.patchSize): AudioConfig {
  return {resolution: [frames, 128], patchSize, stride: DEFAULT_AUDIO_CONFIG.stride}
}

/** The audio head VA training starts from: CLIP's image tower renamed, its 7x7 positions resized to the audio grid. */
export function audioFromClip(clip: StateDict, frames: number): {weights: StateDict; config: AudioConfig} {
  const weights: StateDict = new Map()
  for (const [name, t] of clip) if (name.startsWith('visual.')) weights.set(audioName(name.slice('visual.'.length)), t)
  const conv = weights.get('pre_encoder.conv1.weight')
  if (!conv) throw new UserError('the CLIP has no image tower to start the audio tower from')
  const config = audioConfigFor(frames, conv.shape[2])
  const grid = patchGrid(config)
  weights.set('misc.positional_embedding', interpClipVpEmbedding(weights.get('misc.positional_embedding')!, grid))
  return {weights, config}
}

/** A trained audio head for `frames`-long inputs: its positions as VIP-ANT's `from_pretrained` adapts them. */
export function audioForFrames(
  audio: {weights: StateDict; config: AudioConfig},
  frames: number,
): {weights: StateDict; config: AudioConfig} {
  const config = {...audio.config, resolution: [frames, 128] as [number, number]}
  const weights = new Map(audio.weights)
  weights.set(
    'misc.positional_embedding',
    loadPosEmbedding(audio.weights.get('misc.positional_embedding')!, patchGrid(audio.config), patchGrid(config)),
  )
  return {weights, config}
}
