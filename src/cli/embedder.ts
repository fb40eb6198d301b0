import os from 'node:os'
import {Flags} from './oclif.js'
import {BACKENDS, selectBackend} from '../lib/backend/index.js'
import {localEmbedder} from '../lib/model/embedder.js'
import {loadTowers} from '../lib/model/towers.js'
import {checkProvider, describeRuntime, loadRuntime, PROVIDERS, type Provider} from '../lib/onnx/runtime.js'
import {paperModel} from '../lib/checkpoint/zoo.js'
import type {Embedder} from '../lib/towers/embedder.js'
import type {TowerName} from '../lib/towers/towers.js'
import {UserError} from '../lib/util/errors.js'
import {ENGINES, workerEmbedder, type Engine} from './embed-workers.js'
import {capWorkers} from './workers.js'

export const engineFlags = {
  engine: Flags.string({
    description: 'inference engine (default: onnx where onnxruntime-node is installed, else tfjs)',
    options: [...ENGINES],
  }),
  backend: Flags.string({
    description: 'tfjs: its backend (default: the best present); onnx: cpu or webgpu (default cpu)',
    options: [...new Set([...BACKENDS, ...PROVIDERS])],
  }),
}

/**
 * The engine, its backend and the towers a command runs on, said once on stderr and returned for the
 * reports. ONNX Runtime (the default where installed) runs in one worker thread with every core in its
 * session. TensorFlow.js: tfjs-node backends use every core themselves; wasm runs one thread under
 * Node, so by default one worker thread per core.
 */
export async function startEmbedder(options: {
  engine?: string
  backend?: string
  workers?: number
  run: TowerName[]
  model: string
  clip: string
  normalize: boolean
}): Promise<{embedder: Embedder; workers: number; backend: string}> {
  const {run, model, clip, normalize} = options
  const engine = await chooseEngine(options.engine as Engine | undefined, options.backend)
  let description: string
  let embedder: Embedder
  let workers = 1
  if (engine === 'onnx') {
    const provider = (options.backend ?? 'cpu') as Provider
    if (!(PROVIDERS as readonly string[]).includes(provider))
      throw new UserError(`--engine onnx runs on ${PROVIDERS.join(' or ')}, not --backend ${provider}`)
    await checkProvider(provider)
    description = `engine onnx: ${await describeRuntime(provider)}`
    process.stderr.write(`${description}\n`)
    embedder = await workerEmbedder(1, {run, model, clip, normalize, engine, backend: provider})
  } else {
    const backend = await selectBackend(options.backend)
    // Each worker holds its own copy of the towers (about 1 GB for ViT-B/32 CLIP and an audio tower, with activations).
    workers = capWorkers(
      'embed',
      options.workers ?? (backend.name === 'wasm' || backend.name === 'cpu' ? os.availableParallelism() : 1),
      2 ** 30,
    )
    description = `engine tfjs: ${backend.description.replace(/^backend: /, '')}${workers > 1 ? `, ${workers} worker threads` : ''}`
    process.stderr.write(`${description}\n`)
    embedder =
      workers > 1
        ? await workerEmbedder(workers, {run, model, clip, normalize, engine, backend: backend.name})
        : localEmbedder(await loadTowers(run, model, clip), normalize)
  }
  return {embedder, workers, backend: description}
}

/** --data NAME without --model: the released checkpoint behind the paper's number on NAME, said on stderr. */
export function defaultModel(command: string, dataset: string): string {
  const entry = paperModel(dataset)
  process.stderr.write(`${command}: --model ${entry.name} (${entry.purpose}; --model to evaluate another)\n`)
  return entry.name
}

/** ONNX Runtime unless tfjs is asked for, by name or by naming a backend only tfjs has, or ONNX Runtime is absent. */
async function chooseEngine(engine: Engine | undefined, backend: string | undefined): Promise<Engine> {
  if (engine) return engine
  if (backend !== undefined && !(PROVIDERS as readonly string[]).includes(backend)) return 'tfjs'
  return (await loadRuntime()) ? 'onnx' : 'tfjs'
}
