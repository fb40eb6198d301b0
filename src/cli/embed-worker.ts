import {workerData} from 'node:worker_threads'
import {selectBackend} from '../lib/backend/index.js'
import {localEmbedder} from '../lib/model/embedder.js'
import {loadTowers} from '../lib/model/towers.js'
import {onnxEmbedder} from '../lib/onnx/embedder.js'
import type {Provider} from '../lib/onnx/runtime.js'
import type {Embedder} from '../lib/towers/embedder.js'
import {serveTasks} from '../lib/util/worker-pool.js'
import type {EmbedTask, EmbedderSpec} from './embed-workers.js'

// Worker-thread entry of the embedders: its own towers, one chunk of rows per message.
const embedder = workerTowers(workerData as EmbedderSpec)

/** The towers of this worker, loaded once for its lifetime. */
async function workerTowers(spec: EmbedderSpec): Promise<Embedder> {
  if (spec.engine === 'onnx') return onnxEmbedder({...spec, provider: spec.backend as Provider})
  await selectBackend(spec.backend)
  return localEmbedder(await loadTowers(spec.run, spec.model, spec.clip), spec.normalize)
}

serveTasks<EmbedTask, unknown>(async (task) => {
  const towers = await embedder
  if (task.kind === 'describe') return {result: {dims: towers.dims, sources: towers.sources}}
  const embeddings = await towers.embed(task.tower, task.rows)
  return {result: {embeddings}, transfer: embeddings.flatMap((e) => (e ? [e.buffer as ArrayBuffer] : []))}
})
