/**
 * The towers on ONNX Runtime behind the Embedder seam: one session per tower graph (per patch grid for audio),
 * each using every core, fed one batch at a time. `vipant` runs this in one worker thread (src/cli/embed-workers.ts, with one
 * worker), because a session's run blocks the thread it runs on and the main thread keeps the pipeline moving.
 */
import {perRow, type Embedder, type RowItems} from '../towers/embedder.js'
import {supplyTowers, type TowerName} from '../towers/towers.js'
import {UserError} from '../util/errors.js'
import {Checkpoint, type CheckpointInfo} from './graph-cache.js'
import {createSession, requireRuntime, type Provider, type Session} from './runtime.js'
import {runTower, towerInput} from './tower-input.js'

export interface OnnxEmbedderSpec {
  run: readonly TowerName[]
  model: string
  clip: string
  normalize: boolean
  provider: Provider
}

/** The checkpoint supplying each tower (src/lib/towers/towers.ts), refused when it lacks the tower. */
async function suppliers(
  spec: OnnxEmbedderSpec,
): Promise<Map<TowerName, {checkpoint: Checkpoint; info: CheckpointInfo}>> {
  const open = async (file: string) => {
    const checkpoint = await Checkpoint.open(file)
    return {checkpoint, info: await checkpoint.info()}
  }
  const found = new Map<TowerName, {checkpoint: Checkpoint; info: CheckpointInfo}>()
  await supplyTowers(
    spec.run,
    {model: spec.model, clipModel: spec.clip},
    open,
    ({info}) => info.hasClip,
    (tower, {opened}) => {
      const {architecture} = opened.info
      if (tower === 'audio' && !architecture.audio)
        throw new UserError(`${opened.checkpoint.file}: holds no audio tower; name an audio model with --model`)
      if (tower === 'text' && !architecture.text)
        throw new UserError(`${opened.checkpoint.file}: holds no CLIP text tower; name a CLIP with --clip`)
      if (tower === 'image' && !architecture.vision)
        throw new UserError(`${opened.checkpoint.file}: holds no CLIP image tower; name a CLIP with --clip`)
      found.set(tower, opened)
    },
  )
  return found
}

export async function onnxEmbedder(spec: OnnxEmbedderSpec): Promise<Embedder> {
  const ort = await requireRuntime()
  const towers = await suppliers(spec)
  const sessions = new Map<string, Promise<Session>>()
  const session = (tower: TowerName, grid?: [number, number]) => {
    const key = `${tower}${grid ? ` ${grid}` : ''}`
    if (!sessions.has(key))
      sessions.set(
        key,
        towers
          .get(tower)!
          .checkpoint.graph(tower, grid)
          .then((file) => createSession(file, spec.provider)),
      )
    return sessions.get(key)!
  }
  // Text and image graphs do not depend on the input: ready them now, so that a broken one fails before any work.
  for (const tower of spec.run) if (tower !== 'audio') await session(tower)

  const dims: Embedder['dims'] = {}
  for (const [tower, {info}] of towers) {
    dims[tower] = (
      tower === 'audio' ? info.architecture.audio : tower === 'text' ? info.architecture.text : info.architecture.vision
    )!.embedDim
  }

  /** One batch of items through its tower's session: (n, E) end to end. */
  async function forward(tower: TowerName, items: (Float32Array | string)[]): Promise<Float32Array> {
    const {architecture, audioConfig} = towers.get(tower)!.info
    const sizes = {
      contextLength: architecture.text?.contextLength,
      vocabSize: architecture.text?.vocabSize,
      audioConfig,
      imageResolution: architecture.vision?.imageResolution,
    }
    const {input, grid} = towerInput(ort, tower, items, sizes)
    return runTower(await session(tower, grid), input)
  }

  return {
    dims,
    sources: Object.fromEntries([...towers].map(([tower, {checkpoint}]) => [tower, checkpoint.file])),
    async embed(tower: TowerName, rows: RowItems) {
      const all = rows.flat()
      if (all.length === 0) return rows.map(() => null)
      const values = await forward(tower, all)
      return perRow(rows, spec.normalize ? l2normalizeRows(values, dims[tower]!) : values)
    },
    async close() {
      for (const s of sessions.values()) await (await s.catch(() => undefined))?.release()
    },
  }
}

/** Each `dim`-long vector divided by its norm, in place. */
function l2normalizeRows(values: Float32Array, dim: number): Float32Array {
  for (let at = 0; at < values.length; at += dim) {
    let sum = 0
    for (let k = at; k < at + dim; k++) sum += values[k] * values[k]
    const norm = Math.sqrt(sum)
    for (let k = at; k < at + dim; k++) values[k] /= norm
  }
  return values
}
