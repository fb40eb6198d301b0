/**
 * The frozen image tower's input, clip by clip, before pre-training starts: pixels from a `vipant mel --frames K`
 * table, frame files an AudioSet index lists, or, for a bare video of an index table, the K frames `vipant mel
 * --frames K` would cut from it (the original's times, the same ffmpeg calls, the same CLIP preprocessing). Videos
 * are cut in worker threads and only the embeddings are kept, so training from an index of videos stores no
 * pixels: a window of clips is in flight at a time, and the caller embeds and drops them pass by pass.
 */
import os from 'node:os'
import {clipPreprocess} from '../image/clip-preprocess.js'
import {CLIP_IMAGE_FLOATS} from '../image/clip-images.js'
import {decodeImage} from '../image/frames.js'
import {loadJpegDecoder} from '../image/jpeg.js'
import {UserError} from '../util/errors.js'
import {orderedMap, WorkerPool} from '../util/worker-pool.js'
import {FRAME_SOURCES, type FrameSource} from './config.js'
import type {Clip} from './pair-table.js'
import type {VideoFramesTask} from './video-frames-worker.js'

/** The sources of the clips' frames, in FRAME_SOURCES' order, joined by "+" (an index may mix files and videos). */
export function frameSourceOf(clips: readonly Clip[]): string {
  const used = new Set<FrameSource>(
    clips.map((c) => (c.frameEmb ? 'image_emb' : c.framePaths ? 'frame-files' : c.videoPath ? 'video' : 'images')),
  )
  return FRAME_SOURCES.filter((source) => used.has(source)).join('+')
}

/** What to do about a video whose frames cannot be cut: the run stops before training, as for an audio file. */
const FIX = 'fix the file, list frame files in its row, or remove the row'

export class ClipFrames {
  private pool: WorkerPool<VideoFramesTask, Float32Array | null> | undefined
  /** Clips whose frames are read or cut at once: each video costs one ffmpeg per frame while it is cut. */
  private readonly window: number

  /**
   * `count` frames per video, cut by `workers` threads (default: all cores but the one that embeds); `warn` says
   * which frame file was left out.
   */
  constructor(
    private readonly count: number,
    private readonly warn: (line: string) => void,
    private readonly workers = Math.max(1, os.availableParallelism() - 1),
  ) {
    this.window = 4 * this.workers
  }

  /** Each clip's CLIP-preprocessed frames, in the clips' order; later clips are cut while the caller embeds. */
  async *each(clips: readonly Clip[]): AsyncIterable<Float32Array[]> {
    if (clips.some((c) => c.videoPath !== undefined)) await loadJpegDecoder()
    yield* orderedMap(
      (async function* () {
        yield* clips
      })(),
      this.window,
      (clip) => this.of(clip),
    )
  }

  close(): Promise<void> {
    return this.pool?.close() ?? Promise.resolve()
  }

  private async of(clip: Clip): Promise<Float32Array[]> {
    const pixels = clip.frames
    if (pixels) return pixels
    if (clip.framePaths) return this.fromFiles(clip)
    return this.fromVideo(clip, clip.videoPath!)
  }

  private async fromVideo(clip: Clip, file: string): Promise<Float32Array[]> {
    this.pool ??= new WorkerPool(new URL('./video-frames-worker.js', import.meta.url), this.workers)
    const failed = (problem: string) =>
      new UserError(`clip ${clip.id}: ${problem.startsWith(file) ? '' : `${file}: `}${problem} (${FIX})`)
    const pixels = await this.pool.run({path: file, count: this.count}).catch((error: Error) => {
      throw failed(error.message)
    })
    if (!pixels) throw failed('no video stream to cut frames from for the frozen image tower')
    return Array.from({length: pixels.length / CLIP_IMAGE_FLOATS}, (_, k) =>
      pixels.subarray(k * CLIP_IMAGE_FLOATS, (k + 1) * CLIP_IMAGE_FLOATS),
    )
  }

  /**
   * A clip's frame files, each decoded and CLIP-preprocessed. A file that fails is left out with a warning, as the
   * original goes on past a bad frame; a clip left with none is an error naming it.
   */
  private async fromFiles(clip: Clip): Promise<Float32Array[]> {
    const frames: Float32Array[] = []
    for (const file of clip.framePaths!) {
      try {
        frames.push(clipPreprocess(await decodeImage(file)))
      } catch (error) {
        this.warn(`warning: clip ${clip.id}: frame left out: ${(error as Error).message}`)
      }
    }
    if (frames.length === 0)
      throw new UserError(`clip ${clip.id}: none of its ${clip.framePaths!.length} frame files could be read`)
    return frames
  }
}
