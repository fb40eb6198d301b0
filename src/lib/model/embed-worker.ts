import {parentPort, workerData} from 'node:worker_threads'
import {workerTowers, type EmbedTask, type EmbedderSpec} from './embedder.js'

// Worker-thread entry of `vipant embed --workers N`: its own backend and towers, one chunk of rows per message.
const embedder = workerTowers(workerData as EmbedderSpec)

parentPort!.on('message', async ({id, task}: {id: number; task: EmbedTask}) => {
  try {
    const towers = await embedder
    if (task.kind === 'describe') {
      parentPort!.postMessage({id, result: {dims: towers.dims, sources: towers.sources}})
      return
    }
    const embeddings = await towers.embed(task.tower, task.rows)
    parentPort!.postMessage({id, result: {embeddings}}, embeddings.flatMap((e) => (e ? [e.buffer as ArrayBuffer] : [])))
  } catch (error) {
    parentPort!.postMessage({id, error: error instanceof Error ? error.message : String(error)})
  }
})
