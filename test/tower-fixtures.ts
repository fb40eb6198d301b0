import {readFileSync} from 'node:fs'
import type {AudioConfig} from '../src/lib/checkpoint/audio-config.js'
import {readSafetensors} from '../src/lib/checkpoint/safetensors.js'
import type {StateDict} from '../src/lib/checkpoint/tensor.js'
import {fixture, readF32} from './helpers.js'

// The PyTorch reference of the towers (test/reference/towers.py): tiny random CLIP towers and a VIP-ANT audio
// head, their inputs and outputs.
export interface Blob {
  file: string
  shape: number[]
}
export interface Case {
  tower: 'image' | 'text' | 'audio'
  weights: string
  input: Blob
  output: Blob
  frames?: number
  grid?: [number, number]
  positional?: Blob
}
export const manifest = JSON.parse(readFileSync(fixture('model', 'manifest.json'), 'utf8')) as {
  audio_config: AudioConfig
  cases: Case[]
  clip_pos: {input: Blob; output: Blob}
}
export const f32 = (blob: Blob) => readF32(fixture('model', blob.file))
export const i32 = (blob: Blob) => {
  const buf = readFileSync(fixture('model', blob.file))
  return new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength))
}

export async function referenceWeights(): Promise<{clip: StateDict; audio: StateDict}> {
  return {
    clip: (await readSafetensors(fixture('model', 'clip.safetensors'))).tensors,
    audio: (await readSafetensors(fixture('model', 'audio.safetensors'))).tensors,
  }
}
