/**
 * Tower graphs cached under $VIPANT_HOME/onnx, keyed by the checkpoint's content (the sha256 of its files), the
 * tower and, for audio, the patch grid; beside them what each checkpoint holds. A later run with the same weights
 * hashes the file, reads the graph and never unpickles the checkpoint.
 */
import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {mkdir, readdir, readFile, rm, stat, utimes, writeFile} from 'node:fs/promises'
import path from 'node:path'
import type {Architecture} from '../checkpoint/architecture.js'
import type {AudioConfig, Grid} from '../checkpoint/audio-config.js'
import {modelDigest} from '../checkpoint/digest.js'
import {loadModelFile, type CheckedModel} from '../checkpoint/load.js'
import type {TowerName} from '../towers/towers.js'
import {atomicWrite} from '../util/atomic-write.js'
import {UserError} from '../util/errors.js'
import {vipantHome} from '../util/home.js'
import {audioEncoderGraph} from './audio-encoder.js'
import {textTransformerGraph} from './clip-text.js'
import {visionTransformerGraph} from './clip-vision.js'

/** Part of every cached name: bump it when a graph builder changes what it writes, and older graphs are rebuilt. */
const GRAPH_VERSION = 1
/** The graphs kept: the least recently used go once they pass this many bytes (a ViT-B/32 tower is ~350 MB). */
const CACHE_BYTES = 4 * 2 ** 30

/** What a checkpoint holds, enough to plan a run without loading it. */
export interface CheckpointInfo {
  architecture: Architecture
  audioConfig?: AudioConfig
  /** Whether it carries CLIP weights (and so supplies the text and image towers itself). */
  hasClip: boolean
}

export function graphCacheDir(): string {
  return path.join(vipantHome(), 'onnx')
}

/** One checkpoint file (or vipant directory): its key, what it holds, and its tower graphs. */
export class Checkpoint {
  private loaded?: Promise<CheckedModel>
  private described?: Promise<CheckpointInfo>

  private constructor(
    readonly file: string,
    /** The first 32 hex digits of the sha256 of its files' sha256s. */
    readonly key: string,
  ) {}

  static async open(file: string): Promise<Checkpoint> {
    const digest = await modelDigest(file).catch(() => {
      throw new UserError(`${file}: no such file or directory`)
    })
    const key = createHash('sha256')
      .update(digest.files.map((f) => `${f.name} ${f.sha256}\n`).join(''))
      .digest('hex')
      .slice(0, 32)
    return new Checkpoint(file, key)
  }

  /** Whether this run had to read the weights (a graph or the description was not cached). */
  get weightsLoaded(): boolean {
    return this.loaded !== undefined
  }

  info(): Promise<CheckpointInfo> {
    this.described ??= existsSync(this.infoFile)
      ? readFile(this.infoFile, 'utf8').then((text) => JSON.parse(text) as CheckpointInfo)
      : this.load().then(describe)
    return this.described
  }

  /** The graph file of `tower` (audio: for `grid`), built from the weights and cached the first time. */
  async graph(tower: TowerName, grid?: Grid): Promise<string> {
    const file = path.join(
      graphCacheDir(),
      `${this.key}-${tower}${grid ? `-${grid.join('x')}` : ''}.v${GRAPH_VERSION}.onnx`,
    )
    if (existsSync(file)) {
      const now = new Date()
      await utimes(file, now, now) // recently used
      return file
    }
    const model = await this.load()
    let bytes: Uint8Array
    if (tower === 'audio') {
      if (!model.audio)
        throw new UserError(`${this.file}: holds no audio tower (${model.format}); name an audio model with --model`)
      bytes = audioEncoderGraph(model.audio.weights, model.audio.config, grid!).serialise()
    } else {
      if (!model.clip)
        throw new UserError(`${this.file}: holds no CLIP ${tower} tower (${model.format}); name a CLIP with --clip`)
      bytes = (tower === 'text' ? textTransformerGraph(model.clip) : visionTransformerGraph(model.clip)).serialise()
    }
    await writeAtomically(file, bytes)
    await pruneGraphs(file)
    return file
  }

  private get infoFile(): string {
    return path.join(graphCacheDir(), `${this.key}.json`)
  }

  /** The weights, read once; what they hold is written beside the graphs on the way. */
  private load(): Promise<CheckedModel> {
    this.loaded ??= loadModelFile(this.file).then(async (model) => {
      if (!existsSync(this.infoFile)) await writeAtomically(this.infoFile, JSON.stringify(describe(model)))
      return model
    })
    return this.loaded
  }
}

function describe(model: CheckedModel): CheckpointInfo {
  return {
    architecture: model.architecture,
    audioConfig: model.audio?.config,
    hasClip: model.clip !== undefined && model.clip.size > 0,
  }
}

/** Deletes the least recently used graphs of `keep`'s folder beyond `budget` bytes, never `keep` (the graph just written). */
export async function pruneGraphs(keep: string, budget = CACHE_BYTES): Promise<void> {
  const dir = path.dirname(keep)
  const graphs = await Promise.all(
    (await readdir(dir))
      .filter((f) => f.endsWith('.onnx'))
      .map(async (f) => ({file: path.join(dir, f), ...(await stat(path.join(dir, f)))})),
  )
  let total = 0
  for (const graph of graphs.sort((a, b) => b.mtimeMs - a.mtimeMs)) {
    total += graph.size
    if (total > budget && graph.file !== keep) await rm(graph.file, {force: true})
  }
}

async function writeAtomically(file: string, data: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(file), {recursive: true})
  await atomicWrite(file, (temp) => writeFile(temp, data))
}
