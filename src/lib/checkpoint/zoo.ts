import {existsSync} from 'node:fs'
import path from 'node:path'
import {UserError} from '../util/errors.js'
import {vipantHome} from '../util/home.js'

/**
 * The released weights vipant knows by name (spec §9.6, §8.1-8.2). VIP-ANT's releases hold only the
 * audio tower; the text and image towers come from OpenAI's CLIP.
 */
export interface ZooEntry {
  name: string
  file: string
  url: string
  /** sha256 where the publisher states it (OpenAI puts it in the URL). */
  sha256?: string
  purpose: string
}

const VIPANT_BASE = 'https://storage.googleapis.com/ai2-mosaic-public/projects/vipant/model'
const VA_RUN = '01FFQTZK9YBPRDQHHR6157AGBR'
const AT_RUN = '01FM2Y9HJ896B2G6NKRXTEVXZ7'
const CLIP_SHA = '40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af'

const va = (name: string, step: string, purpose: string): ZooEntry => ({
  name, file: `vipant-va-${step}.pth`, url: `${VIPANT_BASE}/${VA_RUN}/${step}.pth`, purpose: `VIP-ANT VA audio tower, step ${step}: ${purpose}`,
})
const at = (name: string, step: string, purpose: string): ZooEntry => ({
  name, file: `vipant-at-${step}.pth`, url: `${VIPANT_BASE}/${AT_RUN}/${step}.pth`, purpose: `VIP-ANT +AT w/ GC audio tower, step ${step}: ${purpose}`,
})

export const ZOO: readonly ZooEntry[] = [
  {
    name: 'clip-vit-b32',
    file: 'ViT-B-32.pt',
    url: `https://openaipublic.azureedge.net/clip/models/${CLIP_SHA}/ViT-B-32.pt`,
    sha256: CLIP_SHA,
    purpose: "OpenAI CLIP ViT-B/32 (TorchScript, fp16): the text and image towers, and the audio tower's initialisation",
  },
  va('vipant-va', '00071478', 'the initialisation of AT fine-tuning'),
  va('vipant-esc50', '00083391', 'zero-shot ESC-50'),
  va('vipant-us8k', '00079420', 'zero-shot UrbanSound8K'),
  va('vipant-audiocaps', '00051623', 'AudioCaps retrieval'),
  va('vipant-clotho', '00043681', 'Clotho retrieval (10 s and 18 s)'),
  at('vipant-at', '00004140', 'zero-shot ESC-50 and US8K, Clotho 10 s retrieval'),
  at('vipant-at-audiocaps', '00006210', 'AudioCaps retrieval'),
  at('vipant-at-clotho18s', '00006900', 'Clotho 18 s retrieval'),
]

export function modelsDir(): string {
  return path.join(vipantHome(), 'models')
}

/**
 * A model argument as a file: an existing path as it is, or a known name from the cache. A known name
 * not yet downloaded is an error that says how to get it.
 */
export function resolveModel(nameOrPath: string): string {
  if (existsSync(nameOrPath)) return nameOrPath
  const entry = ZOO.find((e) => e.name === nameOrPath)
  if (!entry) {
    throw new UserError(`${nameOrPath}: no such file, and not a known model (${ZOO.map((e) => e.name).join(', ')})`)
  }
  const file = path.join(modelsDir(), entry.file)
  if (!existsSync(file)) throw new UserError(`model ${entry.name} is not in ${modelsDir()}: download it with curl -L --create-dirs -o ${file} ${entry.url}`)
  return file
}
