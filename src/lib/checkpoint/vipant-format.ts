import {mkdir, readFile, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {atomicWrite} from '../util/atomic-write.js'
import {UserError} from '../util/errors.js'
import type {AudioConfig} from './audio-config.js'
import type {LoadedModel} from './load.js'
import {readSafetensors, writeSafetensors} from './safetensors.js'
import type {StateDict} from './tensor.js'

/**
 * vipant's own checkpoint: one float32 safetensors file holding the CLIP towers as `clip.<OpenAI
 * name>` and the audio head as `audio.<VIP-ANT name>`, plus a JSON config for what shapes cannot
 * say (the audio head's input resolution and stride, the loss head's logit scale, where the weights
 * came from). A directory holds `model.safetensors` and `config.json`; a single `.safetensors` file
 * carries the config as its `vipant` metadata string (the directory's file does too, so it stays
 * self-describing when copied alone).
 */
export interface VipantConfig {
  format: 'vipant'
  version: 1
  audio?: AudioConfig
  /** The loss head's logit scale s (logits = exp(s) cos); for CLIP alone, CLIP's own. */
  logitScale?: number
  source: {format: string; file: string} & Record<string, unknown>
}

const CONFIG_KEY = 'vipant'
export const WEIGHTS_FILE = 'model.safetensors'
export const CONFIG_FILE = 'config.json'

export function isSingleFile(out: string): boolean {
  return out.endsWith('.safetensors')
}

/**
 * Writes `model` at `out` (a directory, or a `.safetensors` path), each file through a temporary
 * name and a rename, so a reader never sees a half-written checkpoint. Returns the files written.
 */
export async function writeVipantCheckpoint(out: string, model: LoadedModel): Promise<string[]> {
  const config: VipantConfig = {
    format: 'vipant',
    version: 1,
    ...(model.audio && {audio: model.audio.config}),
    ...(model.logitScale !== undefined && {logitScale: model.logitScale}),
    source: sourceOf(model),
  }
  const tensors: StateDict = new Map()
  for (const [name, t] of model.clip ?? []) tensors.set(`clip.${name}`, t)
  for (const [name, t] of model.audio?.weights ?? []) tensors.set(`audio.${name}`, t)
  const writeWeights = (file: string) => writeSafetensors(file, tensors, {[CONFIG_KEY]: JSON.stringify(config)})
  if (isSingleFile(out)) {
    await mkdir(path.dirname(path.resolve(out)), {recursive: true})
    await atomicWrite(out, writeWeights)
    return [out]
  }
  await mkdir(out, {recursive: true})
  await atomicWrite(path.join(out, WEIGHTS_FILE), writeWeights)
  await atomicWrite(path.join(out, CONFIG_FILE), (file) => writeFile(file, `${JSON.stringify(config, null, 2)}\n`))
  return [path.join(out, WEIGHTS_FILE), path.join(out, CONFIG_FILE)]
}

/** The source's small facts worth keeping (file, JIT attributes, VIP-ANT tuple layout), not its whole cfg. */
function sourceOf(model: LoadedModel): VipantConfig['source'] {
  if (model.format === 'vipant') return model.info.source as VipantConfig['source']
  const {cfg: _cfg, ...facts} = model.info
  return {format: model.format, file: String(model.info.file), ...facts}
}

export async function readVipantCheckpoint(location: string): Promise<LoadedModel> {
  const isDir = (await stat(location)).isDirectory()
  const weightsFile = isDir ? path.join(location, WEIGHTS_FILE) : location
  const {tensors, metadata} = await readSafetensors(weightsFile).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new UserError(`${location}: not a vipant checkpoint (no ${WEIGHTS_FILE})`)
    throw error
  })
  const text = isDir
    ? await readFile(path.join(location, CONFIG_FILE), 'utf8').catch(() => metadata[CONFIG_KEY])
    : metadata[CONFIG_KEY]
  return vipantFromTensors(location, tensors, text)
}

/** A vipant checkpoint from its tensors and config text (`config.json` or the `vipant` metadata). */
export function vipantFromTensors(location: string, tensors: StateDict, configText: string | undefined): LoadedModel {
  let config: VipantConfig
  try {
    config = JSON.parse(configText ?? '')
  } catch {
    throw new UserError(`${location}: not a vipant checkpoint (no readable ${CONFIG_FILE} or "${CONFIG_KEY}" metadata)`)
  }
  if (config.format !== 'vipant' || config.version !== 1) {
    throw new UserError(
      `${location}: unsupported vipant checkpoint (format ${config.format}, version ${config.version})`,
    )
  }
  const clip: StateDict = new Map()
  const audio: StateDict = new Map()
  for (const [name, t] of tensors) {
    if (name.startsWith('clip.')) clip.set(name.slice(5), t)
    else if (name.startsWith('audio.')) audio.set(name.slice(6), t)
    else throw new UserError(`${location}: tensor ${name} belongs to no tower (expected clip.* or audio.*)`)
  }
  if (audio.size > 0 && !config.audio) throw new UserError(`${location}: audio weights without an audio config`)
  return {
    format: 'vipant',
    ...(clip.size > 0 && {clip}),
    ...(audio.size > 0 && {audio: {weights: audio, config: config.audio!}}),
    ...(config.logitScale !== undefined && {logitScale: config.logitScale}),
    info: {source: config.source},
  }
}
