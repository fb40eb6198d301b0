import {serveTasks} from '../util/worker-pool.js'
import {melClip, type MelAnswer, type MelTask} from './mel-clip.js'

// Worker-thread entry of the mel stage: one task per clip. The log-mel is already in the caller's shared memory
// when the task named some (`into`), and is not sent back: cloning a view of shared memory costs more than the
// caller rebuilding it. Otherwise its buffer is moved back, not copied.
serveTasks<MelTask, MelAnswer>(async (task) => {
  const result = await melClip(task)
  const images = [result.images?.buffer].filter((b) => b instanceof ArrayBuffer)
  if (task.into) return {result: {...result, mel: undefined}, transfer: images}
  return {result, transfer: [result.mel.buffer as ArrayBuffer, ...images]}
})
