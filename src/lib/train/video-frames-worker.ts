import {clipImages} from '../image/clip-images.js'
import {serveTasks} from '../util/worker-pool.js'

export interface VideoFramesTask {
  path: string
  /** Frames to cut, at the original's times, as `vipant mel --frames count` cuts them. */
  count: number
}

// Worker-thread entry of ClipFrames (frame-source.ts): one task per video, its pixels moved back, not copied;
// null for a file without a video stream.
serveTasks<VideoFramesTask, Float32Array | null>(async (task) => {
  const result = await clipImages(task.path, null, task.count)
  return {result, transfer: result ? [result.buffer as ArrayBuffer] : []}
})
