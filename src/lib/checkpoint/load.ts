import {open, stat} from 'node:fs/promises'
import path from 'node:path'
import {UserError} from '../util/errors.js'
import {note} from '../util/notes.js'
import {checkedModel, type Architecture} from './architecture.js'
import {audioFromCfg, audioGrid, completeAudioConfig, type AudioConfig} from './audio-config.js'
import {hfToOpenAI, isHfClip} from './keymap.js'
import {ConfigResolver} from './omegaconf.js'
import {plainConfig} from './pickled-config.js'
import {readSafetensors} from './safetensors.js'
import {isTensor, type StateDict, type Tensor} from './tensor.js'
import {loadTorchArchive, type TorchArchive} from './torch-load.js'
import {readVipantCheckpoint, vipantFromTensors} from './vipant-format.js'
import {looksLikeZip} from './zip.js'

/**
 * Any checkpoint vipant reads, in the internal layout: CLIP weights under OpenAI CLIP's
 * `state_dict()` names, an audio head under VIP-ANT's names, PyTorch shapes throughout.
 */
export interface LoadedModel {
  format: 'openai-clip-torchscript' | 'clip-state-dict' | 'vipant-pth' | 'hf-clip' | 'vipant'
  clip?: StateDict
  audio?: {weights: StateDict; config: AudioConfig}
  /** The logit scale s (logits = exp(s) cos) of the loss head, or CLIP's own. */
  logitScale?: number
  /** What else the file held: its name, a VIP-ANT cfg, TorchScript attributes, ignored parts. */
  info: Record<string, unknown>
}

export interface CheckedModel extends LoadedModel {
  architecture: Architecture
}

/** torch.save before 1.6 (or with _use_new_zipfile_serialization=False) starts by pickling this magic number. */
const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]

/** OpenAI's JIT CLIP keeps these as tensor buffers; build_model drops them from the state dict. */
const JIT_ATTRIBUTES = ['input_resolution', 'context_length', 'vocab_size']

/** Recognises the format by content, loads it, and checks every tower is a complete model. */
export async function loadModelFile(file: string): Promise<CheckedModel> {
  const info = await stat(file).catch(() => {
    throw new UserError(`${file}: no such file or directory`)
  })
  const model = info.isDirectory() ? await readVipantCheckpoint(file) : await loadFile(file, await readHead(file))
  model.info = {file: path.basename(file), ...model.info}
  return checked(model, file)
}

async function readHead(file: string): Promise<Uint8Array> {
  const handle = await open(file, 'r')
  try {
    const head = new Uint8Array(16)
    const {bytesRead} = await handle.read(head, 0, 16, 0)
    return head.subarray(0, bytesRead)
  } finally {
    await handle.close()
  }
}

async function loadFile(file: string, head: Uint8Array): Promise<LoadedModel> {
  if (looksLikeZip(head)) return fromTorch(file, await loadTorchArchive(file))
  if (LEGACY_MAGIC.every((byte, i) => head[i] === byte)) {
    throw new UserError(
      `${file}: legacy (pre-1.6, non-zip) torch.save format, not supported: re-save it with torch >= 1.6 (torch.save(torch.load(f), f))`,
    )
  }
  if (head.length >= 9 && head[8] === 0x7b /* '{' */) {
    const {tensors, metadata} = await readSafetensors(file)
    if (metadata.vipant) return vipantFromTensors(file, tensors, metadata.vipant)
    return fromStateDict(file, tensors)
  }
  throw new UserError(
    `${file}: not a checkpoint vipant can read (expected a PyTorch .pt/.pth, a TorchScript archive, a .safetensors file or a vipant checkpoint directory)`,
  )
}

function fromTorch(file: string, archive: TorchArchive): LoadedModel {
  if (archive.kind === 'torchscript') {
    const state = new Map(archive.stateDict)
    const jitAttributes: Record<string, number> = {}
    for (const name of JIT_ATTRIBUTES) {
      const t = state.get(name)
      if (t) jitAttributes[name] = t.data[0]
      state.delete(name)
    }
    if (!state.has('visual.conv1.weight'))
      throw new UserError(`${file}: a TorchScript ${archive.rootClass}, not an OpenAI CLIP model`)
    return {format: 'openai-clip-torchscript', clip: state, info: {rootClass: archive.rootClass, jitAttributes}}
  }
  const object = archive.object
  if (object instanceof Map && object.has('model') && object.has('cfg')) return fromVipantPth(file, object)
  const state = asStateDict(object)
  if (!state)
    throw new UserError(
      `${file}: a torch.save file, but not a state dict nor a VIP-ANT {cfg, model} checkpoint (${describe(object)})`,
    )
  return fromStateDict(file, state)
}

function fromStateDict(file: string, state: StateDict): LoadedModel {
  if (isHfClip(state)) return {format: 'hf-clip', clip: hfToOpenAI(state, file), info: {}}
  if (state.has('pre_encoder.conv1.weight')) {
    throw new UserError(
      `${file}: a bare VIP-ANT audio-head state dict, without the cfg that gives its input size and stride: load the VIP-ANT .pth it came from`,
    )
  }
  if (!state.has('visual.conv1.weight') && !state.has('token_embedding.weight')) {
    throw new UserError(
      `${file}: a state dict, but not CLIP's (no visual.conv1.weight or token_embedding.weight; first keys: ${[...state.keys()].slice(0, 3).join(', ')})`,
    )
  }
  const clip = new Map(state)
  for (const name of JIT_ATTRIBUTES) clip.delete(name)
  return {format: 'clip-state-dict', clip, info: {}}
}

/**
 * VIP-ANT's `{cfg, model}` (docs/method.md §9.2): `model` is (audio, loss) from CVAP-era runs (the released
 * VA checkpoints) or (image, audio, text, loss) from CVALP runs (the released AT checkpoints), with
 * the frozen image and text heads saved empty. The cfg is read with its interpolations resolved (omegaconf.ts);
 * what it does not say of the audio input is inferred from the weights and printed as a note.
 */
function fromVipantPth(file: string, checkpoint: Map<unknown, unknown>): LoadedModel {
  const parts = checkpoint.get('model')
  if (!Array.isArray(parts) || (parts.length !== 2 && parts.length !== 4)) {
    throw new UserError(
      `${file}: VIP-ANT checkpoint whose "model" is not a 2- or 4-tuple of state dicts (${describe(parts)})`,
    )
  }
  const dicts = parts.map((part, i) => {
    const sd = asStateDict(part)
    if (!sd) throw new UserError(`${file}: VIP-ANT "model" entry ${i} is not a state dict`)
    return sd
  })
  const [audio, loss] = dicts.length === 2 ? dicts : [dicts[1], dicts[3]]
  const cfg = new ConfigResolver(plainConfig(checkpoint.get('cfg'), file), file)
  const {config, notes} = completeAudioConfig(file, audioFromCfg(cfg), audio)
  for (const text of notes) note(file, text)
  const {value: resolved, unresolved} = cfg.all()
  const scale = loss.get('loss_head_al.logit_scale') ?? loss.get('logit_scale') ?? loss.get('loss_head_va.logit_scale')
  const ignored = dicts.length === 4 ? {imageHeadTensors: dicts[0].size, textHeadTensors: dicts[2].size} : {}
  return {
    format: 'vipant-pth',
    audio: {weights: audio, config},
    ...(scale && {logitScale: scale.data[0]}),
    info: {
      layout: dicts.length === 2 ? '(audio, loss)' : '(image, audio, text, loss)',
      lossHead: [...loss.keys()],
      ...ignored,
      ...(notes.length > 0 && {inferred: notes}),
      cfg: resolved,
      ...(unresolved.length > 0 && {cfgUnresolved: unresolved}),
    },
  }
}

function checked(model: LoadedModel, file: string): CheckedModel {
  const architecture: Architecture = {}
  if (model.clip) {
    const {architecture: arch, state} = checkedModel(model.clip, file)
    if (arch.audio || (!arch.vision && !arch.text))
      throw new UserError(`${file}: the CLIP weights hold no CLIP tower, or an audio head`)
    Object.assign(architecture, arch)
    model.clip = state
    const scale = state.get('logit_scale')
    if (model.logitScale === undefined && scale) model.logitScale = scale.data[0]
  }
  if (model.audio) {
    const {architecture: arch, state} = checkedModel(model.audio.weights, file)
    if (!arch.audio || arch.vision || arch.text)
      throw new UserError(`${file}: the audio weights are not a VIP-ANT audio head`)
    const {config} = model.audio
    const {rows, cols} = audioGrid(config)
    if (arch.audio.patchSize !== config.patchSize) {
      throw new UserError(
        `${file}: audio patch filters are ${arch.audio.patchSize}x${arch.audio.patchSize} but the config says patch size ${config.patchSize}`,
      )
    }
    if (arch.audio.positions !== 1 + rows * cols) {
      throw new UserError(
        `${file}: the audio positional embedding has ${arch.audio.positions} rows, but a [${config.resolution}] input with stride [${config.stride}] gives a ${rows}x${cols} grid (${1 + rows * cols} rows)`,
      )
    }
    architecture.audio = arch.audio
    model.audio.weights = state
  }
  return {...model, architecture}
}

/** A dict whose values are all tensors (an OrderedDict state dict, or a plain dict of tensors). */
function asStateDict(value: unknown): StateDict | undefined {
  if (!(value instanceof Map)) return undefined
  for (const [k, v] of value) if (typeof k !== 'string' || !isTensor(v)) return undefined
  return value as Map<string, Tensor>
}

function describe(value: unknown): string {
  if (value instanceof Map) return `a dict with keys ${[...value.keys()].slice(0, 5).map(String).join(', ')}`
  if (Array.isArray(value)) return `a ${value.length}-tuple`
  return `a ${value === null ? 'None' : typeof value}`
}
