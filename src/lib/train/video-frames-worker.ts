import {parentPort} from 'node:worker_threads'
import {clipImages} from '../image/clip-images.js'

export interface VideoFramesTask {
  path: string
  /** Frames to cut, at the original's times, as `vipant mel --frames count` cuts them. */
  count: number
}

// Worker-thread entry of ClipFrames (frame-source.ts): one message per video, its pixels moved back, not copied;
// null for a file without a video stream.
parentPort!.on('message', (message: {id: number; task: VideoFramesTask}) => void reply(message))

async function reply({id, task}: {id: number; task: VideoFramesTask}): Promise<void> {
  try {
    const result = await clipImages(task.path, null, task.count)
    parentPort!.postMessage({id, result}, result ? [result.buffer as ArrayBuffer] : [])
  } catch (error) {
    parentPort!.postMessage({id, error: error instanceof Error ? error.message : String(error)})
  }
}
