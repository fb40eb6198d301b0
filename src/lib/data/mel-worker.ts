import {parentPort} from 'node:worker_threads'
import {melClip, type MelTask} from './mel-clip.js'

// Worker-thread entry of the mel stage: one message per clip. The log-mel is already in the caller's shared memory
// when the task named some (`into`); otherwise its buffer is moved back, not copied.
parentPort!.on('message', (message: {id: number; task: MelTask}) => void reply(message))

async function reply({id, task}: {id: number; task: MelTask}): Promise<void> {
  try {
    const result = await melClip(task)
    const transfer = [result.images?.buffer].filter((b) => b instanceof ArrayBuffer)
    // A view of shared memory is not sent back: cloning it costs more than the caller rebuilding it from `into`.
    if (task.into) parentPort!.postMessage({id, result: {...result, mel: undefined}}, transfer)
    else parentPort!.postMessage({id, result}, [result.mel.buffer as ArrayBuffer, ...transfer])
  } catch (error) {
    parentPort!.postMessage({id, error: error instanceof Error ? error.message : String(error)})
  }
}
