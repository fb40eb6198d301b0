import {decodeAudio} from './decode.js'
import {logMel} from './log-mel.js'
import type {MelConfig} from './mel-config.js'

export interface MelTask {
  /** Stable key for the clip's random choices (its id). */
  key: string
  path: string
  config: MelConfig
}

export interface MelResult {
  mel: Float32Array
  frames: number
  sampleRate: number
  channels: number
  /** Seconds of decoded audio, before cropping. */
  duration: number
}

/** Decode one file at its native rate and turn it into the model's log-mel input. */
export async function melClip(task: MelTask): Promise<MelResult> {
  const audio = await decodeAudio(task.path)
  const {mel, frames} = logMel(audio.channels, audio.sampleRate, task.config, task.key)
  return {mel, frames, sampleRate: audio.sampleRate, channels: audio.channels.length, duration: audio.duration}
}
