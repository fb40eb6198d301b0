/**
 * Log-mels computed while training runs, from an index table's audio files (no `mel` column): the same worker
 * script and the same `melClip` as `vipant mel`, so a clip's log-mel is that command's for the same crop. At
 * AudioSet scale this replaces ~0.9 TB of float32 features with decoding on the fly, as the original's data loader
 * does, which also crops each clip afresh every time it is drawn (train=True in its _extract_kaldi_spectrogram).
 * The crop is keyed by (run seed, step, clip), so a resumed run crops exactly as an uninterrupted one.
 */
import {DEFAULT_MEL, type MelConfig} from '../audio/mel-config.js'
import type {MelAnswer, MelTask} from '../data/mel-clip.js'
import {UserError} from '../util/errors.js'
import {WorkerPool} from '../util/worker-pool.js'
import type {Clip} from './pair-table.js'

/** The `mel` parameters of a run's on-the-fly log-mels: `vipant mel`'s defaults at the tower's length. */
export function onTheFlyMel(frames: number, seed: number, crop: MelConfig['crop']): MelConfig {
  return {...DEFAULT_MEL, maxLen: frames, crop, seed}
}

/** The key of a training crop: each step draws a fresh window for each clip it visits. */
export function cropKey(clip: Clip, step: number): string {
  return `${clip.id}:step:${step}`
}

export class MelFeeder {
  private readonly pool: WorkerPool<MelTask, MelAnswer>

  constructor(
    private readonly frames: number,
    private readonly seed: number,
    workers: number,
  ) {
    this.pool = new WorkerPool(new URL('../data/mel-worker.js', import.meta.url), workers)
  }

  /**
   * The log-mels of a step's clips (random crops), by index into `clips`. Its promise is marked handled so a batch
   * prefetched during a step that then fails raises no unhandled rejection; awaiting it still throws.
   */
  batch(clips: readonly Clip[], indices: readonly number[], step: number): Promise<Map<number, Float32Array>> {
    const config = onTheFlyMel(this.frames, this.seed, 'random')
    const mels = Promise.all(indices.map((i) => this.mel(clips[i], config, cropKey(clips[i], step)))).then(
      (list) => new Map(indices.map((i, k) => [i, list[k]])),
    )
    mels.catch(() => {})
    return mels
  }

  /** Centre-cropped log-mels, as evaluation takes them, set on the clips themselves (held-out clips are few). */
  async hold(clips: readonly Clip[]): Promise<void> {
    const config = onTheFlyMel(this.frames, this.seed, 'center')
    const mels = await Promise.all(clips.map((clip) => this.mel(clip, config, clip.id)))
    clips.forEach((clip, k) => (clip.mel = mels[k]))
  }

  close(): Promise<void> {
    return this.pool.close()
  }

  private async mel(clip: Clip, config: MelConfig, key: string): Promise<Float32Array> {
    const path = clip.audioPath!
    const result = await this.pool.run({key, path, config, frames: 0, frameFiles: null}).catch((error: Error) => {
      throw new UserError(`clip ${clip.id}: ${error.message.startsWith(path) ? '' : `${path}: `}${error.message}`)
    })
    return result.mel!
  }
}
