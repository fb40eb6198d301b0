import {existsSync, statSync} from 'node:fs'
import {mkdir, rm} from 'node:fs/promises'
import path from 'node:path'
import {isFile} from '../util/fs-entry.js'
import {netConfig, type NetConfig} from '../net/config.js'
import {contentProblem} from '../net/content-check.js'
import {download, type DownloadOptions} from '../net/download.js'
import {withFileLock} from '../net/file-lock.js'
import {KnownSizes} from '../net/known-sizes.js'
import {stderrReporter} from '../net/reporter.js'
import {UserError} from '../util/errors.js'
import {vipantHome} from '../util/home.js'

/**
 * The released weights vipant knows by name (docs/method.md §9.6, §8.1-8.2). VIP-ANT's releases hold only the
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
  name,
  file: `vipant-va-${step}.pth`,
  url: `${VIPANT_BASE}/${VA_RUN}/${step}.pth`,
  purpose: `VIP-ANT VA audio tower, step ${step}: ${purpose}`,
})
const at = (name: string, step: string, purpose: string): ZooEntry => ({
  name,
  file: `vipant-at-${step}.pth`,
  url: `${VIPANT_BASE}/${AT_RUN}/${step}.pth`,
  purpose: `VIP-ANT +AT w/ GC audio tower, step ${step}: ${purpose}`,
})

export const ZOO: readonly ZooEntry[] = [
  {
    name: 'clip-vit-b32',
    file: 'ViT-B-32.pt',
    url: `https://openaipublic.azureedge.net/clip/models/${CLIP_SHA}/ViT-B-32.pt`,
    sha256: CLIP_SHA,
    purpose:
      "OpenAI CLIP ViT-B/32 (TorchScript, fp16): the text and image towers, and the audio tower's initialisation",
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

/**
 * The released audio tower behind the paper's VIP-ANT number on each evaluation set (the original's README):
 * what `--data NAME` evaluates when no --model is named.
 */
const PAPER_MODELS: Record<string, string> = {
  esc50: 'vipant-esc50',
  us8k: 'vipant-us8k',
  audiocaps: 'vipant-audiocaps',
  clotho: 'vipant-clotho',
}

export function paperModel(dataset: string): ZooEntry {
  return zooEntry(PAPER_MODELS[dataset])!
}

export function modelsDir(): string {
  return path.join(vipantHome(), 'models')
}

export function zooEntry(name: string): ZooEntry | undefined {
  return ZOO.find((e) => e.name === name)
}

export function cachedPath(entry: ZooEntry): string {
  return path.join(modelsDir(), entry.file)
}

export interface ModelListing {
  name: string
  file: string
  url: string
  purpose: string
  sha256: string | null
  /** Bytes: of the cached file, else as first downloaded; null before the first download. */
  size: number | null
  cached: boolean
}

/** What `vipant fetch model --list` shows: every known model and whether it is in the cache. */
export function listModels(): ModelListing[] {
  const sizes = new KnownSizes(modelsDir())
  return ZOO.map((entry) => {
    const file = cachedPath(entry)
    const cached = isFile(file)
    const size = cached ? statSync(file).size : (sizes.get(entry.url) ?? null)
    return {name: entry.name, file, url: entry.url, purpose: entry.purpose, sha256: entry.sha256 ?? null, size, cached}
  })
}

export interface FetchModelOptions {
  net?: NetConfig
  /** Progress and retry notices; the default draws on stderr. */
  report?: Pick<DownloadOptions, 'onProgress' | 'onRetry'> & {stop(): void}
}

/**
 * The cached file of a known model, downloaded first when absent (verified, resumable; one download at a
 * time per file, however many processes or worker threads ask).
 */
export async function fetchModel(entry: ZooEntry, options: FetchModelOptions = {}): Promise<string> {
  const file = cachedPath(entry)
  if (await inCache(entry)) return file
  await mkdir(modelsDir(), {recursive: true})
  await withFileLock(file, async () => {
    if (await inCache(entry)) return
    const report = options.report ?? stderrReporter(`downloading ${entry.name}`)
    try {
      await download({...entry, content: 'checkpoint'}, file, {
        net: options.net ?? netConfig(),
        sizes: new KnownSizes(modelsDir()),
        offlineHint: OFFLINE_HINT,
        ...report,
      })
    } finally {
      report.stop()
    }
  })
  return file
}

const OFFLINE_HINT = 'then --offline, or VIPANT_OFFLINE=1, keeps commands from trying to download it'

/**
 * Whether ENTRY's file is in the cache. One that is no checkpoint at all (an HTML page cached by an older
 * version) is dropped, with the size recorded from it, so that it is downloaded again.
 */
async function inCache(entry: ZooEntry): Promise<boolean> {
  const file = cachedPath(entry)
  if (!isFile(file)) return false
  if (!(await contentProblem(file, 'checkpoint'))) return true
  await rm(file, {force: true})
  await new KnownSizes(modelsDir()).forget(entry.url)
  return false
}

/** Whether downloads are forbidden: --offline, or VIPANT_OFFLINE=1 in the environment (worker threads inherit it). */
export function offline(): boolean {
  return ['1', 'true', 'yes'].includes((process.env.VIPANT_OFFLINE ?? '').toLowerCase())
}

/**
 * A model argument as a file: an existing path as it is, or a known name from the cache, downloaded on
 * first use unless offline.
 */
export async function resolveModel(nameOrPath: string): Promise<string> {
  if (existsSync(nameOrPath)) return nameOrPath
  const entry = zooEntry(nameOrPath)
  if (!entry) {
    throw new UserError(`${nameOrPath}: no such file, and not a known model (${ZOO.map((e) => e.name).join(', ')})`)
  }
  if (offline() && !(await inCache(entry))) {
    throw new UserError(
      `model ${entry.name} is not in the cache and --offline forbids downloading it: ` +
        `place ${entry.file} (from ${entry.url}) at ${cachedPath(entry)}, or run vipant fetch model ${entry.name} online`,
    )
  }
  return fetchModel(entry)
}
