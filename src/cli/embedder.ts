import os from 'node:os'
import {selectBackend} from '../lib/backend/index.js'
import {localEmbedder, workerEmbedder, type Embedder} from '../lib/model/embedder.js'
import {loadTowers, type TowerName} from '../lib/model/towers.js'

/**
 * The backend and the towers a command runs on, said once on stderr. tfjs-node backends use every
 * core themselves; wasm runs one thread under Node, so by default one worker thread per core.
 */
export async function startEmbedder(options: {
  backend?: string
  workers?: number
  run: TowerName[]
  model: string
  clip: string
  normalize: boolean
}): Promise<{embedder: Embedder; workers: number; backend: string}> {
  const backend = await selectBackend(options.backend)
  const workers = options.workers ?? (backend.name === 'wasm' || backend.name === 'cpu' ? os.availableParallelism() : 1)
  process.stderr.write(`${backend.description}${workers > 1 ? `, ${workers} worker threads` : ''}\n`)
  const {run, model, clip, normalize} = options
  const embedder =
    workers > 1
      ? await workerEmbedder(workers, {run, model, clip, normalize, backend: backend.name})
      : localEmbedder(await loadTowers(run, model, clip), normalize)
  return {embedder, workers, backend: backend.description.replace(/^backend: /, '')}
}
