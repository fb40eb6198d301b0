import {audioGrid, type AudioConfig} from './audio-config.js'
import type {CheckedModel} from './load.js'
import {numel, type StateDict} from './tensor.js'

/** What a checkpoint holds, for `vipant convert` (and anyone who wants to say what they loaded). */
export interface ModelReport {
  format: CheckedModel['format']
  tensors: number
  parameters: number
  /** Tensor counts by the dtype the file stored them in. */
  dtypes: Record<string, number>
  architecture: CheckedModel['architecture']
  audio?: {config: AudioConfig; grid: {rows: number; cols: number}}
  logitScale?: number
  info: Record<string, unknown>
}

export function modelReport(model: CheckedModel): ModelReport {
  const all: StateDict = new Map([
    ...(model.clip ?? []),
    ...[...(model.audio?.weights ?? [])].map(([k, t]) => [`audio.${k}`, t] as const),
  ])
  const dtypes: Record<string, number> = {}
  let parameters = 0
  for (const t of all.values()) {
    dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1
    parameters += numel(t.shape)
  }
  return {
    format: model.format,
    tensors: all.size,
    parameters,
    dtypes,
    architecture: model.architecture,
    ...(model.audio && {audio: {config: model.audio.config, grid: audioGrid(model.audio.config)}}),
    ...(model.logitScale !== undefined && {logitScale: model.logitScale}),
    info: model.info,
  }
}

const FORMAT_NAMES: Record<CheckedModel['format'], string> = {
  'openai-clip-torchscript': 'OpenAI CLIP TorchScript archive',
  'clip-state-dict': 'CLIP state dict (OpenAI names)',
  'vipant-pth': 'VIP-ANT checkpoint (.pth)',
  'hf-clip': 'Hugging Face CLIPModel weights',
  vipant: 'vipant checkpoint',
}

/** The report as a few human-readable lines. */
export function formatReport(r: ModelReport): string {
  const lines = [
    `format      ${r.format} (${FORMAT_NAMES[r.format]})`,
    `tensors     ${r.tensors}, ${r.parameters.toLocaleString('en-US')} parameters (${Object.entries(r.dtypes)
      .map(([d, n]) => `${n} ${d}`)
      .join(', ')})`,
  ]
  const {vision: v, text: t, audio: a} = r.architecture
  if (v)
    lines.push(
      `vision      ViT width ${v.width}, ${v.layers} layers, ${v.heads} heads, patch ${v.patchSize}, grid ${v.grid}x${v.grid} (${v.imageResolution} px), embed ${v.embedDim}`,
    )
  if (t)
    lines.push(
      `text        width ${t.width}, ${t.layers} layers, ${t.heads} heads, context ${t.contextLength}, vocab ${t.vocabSize}, embed ${t.embedDim}`,
    )
  if (a && r.audio) {
    const {config, grid} = r.audio
    lines.push(
      `audio       ViT width ${a.width}, ${a.layers} layers, ${a.heads} heads, patch ${a.patchSize} (${a.inChannels} channels), embed ${a.embedDim}`,
    )
    lines.push(
      `audio grid  ${config.resolution[0]} frames x ${config.resolution[1]} bins, stride ${config.stride.join('x')}: ${grid.rows}x${grid.cols} patches + class token = ${a.positions} positions`,
    )
  }
  if (r.logitScale !== undefined)
    lines.push(`logit scale ${r.logitScale.toFixed(4)} (x${Math.exp(r.logitScale).toFixed(2)})`)
  const jit = r.info.jitAttributes as Record<string, number> | undefined
  if (jit)
    lines.push(
      `jit attrs   ${Object.entries(jit)
        .map(([k, n]) => `${k}=${n}`)
        .join(', ')} (not weights, dropped)`,
    )
  if (r.info.layout)
    lines.push(`vip-ant     model tuple ${r.info.layout}, loss head ${(r.info.lossHead as string[]).join(', ')}`)
  return lines.join('\n')
}
