/**
 * Everything a training run depends on, as one typed object (nanoGPT style). Defaults are VIP-ANT's (docs/method.md §3.6,
 * §6, §7); a YAML file may set any field (camelCase or the flag's kebab-case name) and flags override it. The
 * resolved object is written beside every checkpoint, and a resumed run reads it back from there.
 */
import {readFile} from 'node:fs/promises'
import {parse, stringify} from 'yaml'
import {UserError} from '../util/errors.js'

/** Which two towers are matched: the first trains, the second is frozen, except image-text where both train. */
export const PAIRS = ['audio-image', 'audio-text', 'image-text'] as const
export type Pair = (typeof PAIRS)[number]

/** Where a VA run's frozen image tower gets its frames (train.yaml's `frameSource`; frame-source.ts). */
export const FRAME_SOURCES = ['image_emb', 'images', 'frame-files', 'video'] as const
export type FrameSource = (typeof FRAME_SOURCES)[number]

export interface TrainConfig {
  pair: Pair
  /** The training table (vipant mel / embed output). */
  data: string
  /** A held-out table evaluated every `evalEvery` steps; or `holdout` rows cut from the end of `data`. */
  val: string | null
  holdout: number
  out: string
  /** The trainable tower's start: a CLIP (the audio tower is built from its image tower, §5.4) or a vipant/VIP-ANT audio checkpoint. */
  init: string | null
  /** The CLIP supplying the frozen tower; default `init` when it holds one, else clip-vit-b32. */
  clip: string | null
  /** Without `init`: the size of a random CLIP to start from (tiny, vit-b32, or a YAML file of sizes). */
  model: string
  seed: number
  /** Log-mel frames the audio tower takes; shorter than the table's, each step crops a random window. Default: the table's. */
  frames: number | null
  batchSize: number
  /** The LR schedule's horizon, and the run's length unless `steps` stops it sooner (VIP-ANT: 1000, §7.1). */
  epochs: number
  /** 0 saves the starting weights as checkpoint step 0 (the untrained control of the demo). */
  steps: number | null
  optimizer: 'lars' | 'adam'
  /** Adam's peak learning rate; LARS's is batchSize / 256 (§7.1). */
  lr: number
  lrWeight: number
  lrBias: number
  warmupEpochs: number
  weightDecay: number
  momentum: number
  eta: number
  /** Initial s of logits = exp(s) cos: ln(1/0.07) (CVALP, and always for AT), or CLIP's ln 100 for the CVAPDP VA run (§5.4). */
  logitScale: number
  /** SpecAugment mask widths after normalisation (§3.6); 0 turns a mask off. */
  freqMask: number
  timeMask: number
  /** AT controls (§1.3): captions of a random other clip; a seeded fraction of the training clips. */
  randomCaptions: boolean
  fraction: number
  /** Class prompt prefix for zero-shot evaluation and for clips without captions; the image-text pair's default is IMAGE_PROMPT. */
  prompt: string
  checkpointEvery: number
  keep: number
  evalEvery: number
  /**
   * Gradient checkpointing of the trainable tower's transformer blocks (src/lib/model/transformer.ts): recompute
   * each block in the backward pass, for ~1/3 more compute, instead of keeping its activations. null: when they
   * would exceed 1 GB (a ViT-B tower at batch 8 would need ~15 GB, over wasm's 4 GB heap).
   */
  checkpointBlocks: boolean | null
  /**
   * Worker threads that each take a slice of every batch (data parallelism, src/lib/train/data-parallel.ts); null:
   * one per core on wasm and cpu, which run on one thread each, unless the towers are too small to gain (trainer.ts).
   * Part of the run: a resumed run keeps the count, since another count sums the gradients in another order.
   */
  workers: number | null
  /**
   * Where log-mels come from: a table's `mel` column (precomputed) or an index table's audio files, decoded while
   * training runs (on-the-fly). Recorded by the trainer from the table; null: whichever the table holds.
   */
  features: 'precomputed' | 'on-the-fly' | null
  /**
   * Where the frozen image tower's frames come from (frame-source.ts): image_emb, images (pixels), frame-files, or
   * video (cut from an index table's videos), "+"-joined when rows differ. Recorded by the trainer; null: any.
   */
  frameSource: string | null
  /** Frames cut from each bare video of an index table, at the original's times (VIP-ANT: 4, §2.1). */
  videoFrames: number
}

export const DEFAULTS: Omit<TrainConfig, 'pair' | 'data' | 'out'> = {
  val: null,
  holdout: 0,
  init: null,
  clip: null,
  model: 'vit-b32',
  seed: 1213,
  frames: null,
  batchSize: 432,
  epochs: 1000,
  steps: null,
  optimizer: 'lars',
  lr: 5e-4,
  lrWeight: 0.2,
  lrBias: 0.0048,
  warmupEpochs: 10,
  weightDecay: 1e-6,
  momentum: 0.9,
  eta: 0.001,
  logitScale: Math.log(1 / 0.07),
  freqMask: 32,
  timeMask: 200,
  randomCaptions: false,
  fraction: 1,
  prompt: 'the sound of',
  checkpointEvery: 1000,
  keep: 3,
  evalEvery: 1000,
  checkpointBlocks: null,
  workers: null,
  features: null,
  frameSource: null,
  videoFrames: 4,
}

/** The class prompt of pictures (CLIP's "a photo of" for the demo world's drawings). */
export const IMAGE_PROMPT = 'a picture of'

const camel = (key: string) => key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())

/** YAML text as config fields, refusing unknown names and values of the wrong type. */
export function parseConfigYaml(text: string, source: string): Partial<TrainConfig> {
  let raw: unknown
  try {
    raw = parse(text)
  } catch (error) {
    throw new UserError(`${source}: not valid YAML (${(error as Error).message.split('\n')[0]})`)
  }
  if (raw === null || raw === undefined) return {}
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new UserError(`${source}: expected a mapping of settings`)
  const known: Record<string, unknown> = {...DEFAULTS, pair: 'audio-image', data: '', out: ''}
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(raw)) {
    const name = camel(key)
    if (!(name in known)) throw new UserError(`${source}: unknown setting "${key}"`)
    const expected = typeof known[name]
    if (value !== null && known[name] !== null && typeof value !== expected) {
      throw new UserError(`${source}: "${key}" should be a ${expected}, got ${JSON.stringify(value)}`)
    }
    out[name] = value
  }
  return out as Partial<TrainConfig>
}

export async function readConfigFile(file: string): Promise<Partial<TrainConfig>> {
  const text = await readFile(file, 'utf8').catch(() => {
    throw new UserError(`${file}: no such config file`)
  })
  return parseConfigYaml(text, file)
}

/** Defaults, then the file's settings, then the flags given; checks what must hold. */
export function resolveConfig(...layers: Partial<TrainConfig>[]): TrainConfig {
  const given = layers.map(withoutUndefined)
  const config = Object.assign({}, DEFAULTS, ...given) as TrainConfig
  if (config.pair === 'image-text' && given.every((layer) => layer.prompt === undefined)) config.prompt = IMAGE_PROMPT
  for (const key of ['pair', 'data', 'out'] as const)
    if (!config[key]) throw new UserError(`no ${key} given (a flag, or in --config)`)
  if (!PAIRS.includes(config.pair))
    throw new UserError(`unknown pair ${config.pair}; choose one of ${PAIRS.join(', ')}`)
  if (!(config.fraction > 0 && config.fraction <= 1))
    throw new UserError(`fraction must be in (0, 1], got ${config.fraction}`)
  if (config.optimizer !== 'lars' && config.optimizer !== 'adam')
    throw new UserError(`unknown optimizer ${config.optimizer}; choose lars or adam`)
  for (const key of ['batchSize', 'epochs', 'checkpointEvery', 'keep', 'evalEvery'] as const) {
    if (!(Number.isInteger(config[key]) && config[key] >= 1))
      throw new UserError(`${key} must be a positive integer, got ${config[key]}`)
  }
  if (config.batchSize < 2)
    throw new UserError(`batchSize must be at least 2: a contrastive batch of one clip has no negatives`)
  if (config.steps !== null && !(Number.isInteger(config.steps) && config.steps >= 0))
    throw new UserError(`steps must be a whole number, got ${config.steps}`)
  if (config.workers !== null && !(Number.isInteger(config.workers) && config.workers >= 1))
    throw new UserError(`workers must be a positive integer, got ${config.workers}`)
  if (![null, 'precomputed', 'on-the-fly'].includes(config.features))
    throw new UserError(`features must be precomputed or on-the-fly, got ${config.features}`)
  if (!(Number.isInteger(config.videoFrames) && config.videoFrames >= 1))
    throw new UserError(`videoFrames must be a positive integer, got ${config.videoFrames}`)
  if (
    config.frameSource !== null &&
    !config.frameSource.split('+').every((s) => (FRAME_SOURCES as readonly string[]).includes(s))
  )
    throw new UserError(
      `frameSource must be one of ${FRAME_SOURCES.join(', ')} (or several joined by +), got ${config.frameSource}`,
    )
  if (config.checkpointBlocks !== null && typeof config.checkpointBlocks !== 'boolean')
    throw new UserError(`checkpointBlocks must be true, false or null (auto)`)
  return config
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

export function configYaml(config: TrainConfig): string {
  return stringify(config)
}
