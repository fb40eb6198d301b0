import type {RgbImage} from '../image/rgb.js'
import {UserError} from '../util/errors.js'
import {requireFinite} from '../util/finite.js'
import {decodeAudio, type Mp3Decoder} from '../audio/decode.js'
import {logMel} from '../audio/log-mel.js'
import {NUM_MEL_BINS, type MelConfig} from '../audio/mel-config.js'

export interface MelTask {
  /** Stable key for the clip's random choices (its id). */
  key: string
  path: string
  config: MelConfig
  /** Video frames to add per clip (0: none), and the frame files the index lists for it. */
  frames: number
  frameFiles: string[] | null
  /** The listed frames already decoded (the mel stage decodes many rows' pictures at once). */
  pictures?: RgbImage[]
  /** Where to write the log-mel (maxLen × 128 float32 at a byte offset), shared with the thread that reads it. */
  into?: {buffer: SharedArrayBuffer; offset: number}
}

/** A worker's answer (mel-worker.ts): without the log-mel when the task named `into`, where it is already. */
export type MelAnswer = Omit<MelResult, 'mel'> & {mel?: Float32Array}

export interface MelResult {
  /** The log-mel: the task's `into` when it named one, else its own buffer. */
  mel: Float32Array
  frames: number
  sampleRate: number
  channels: number
  /** Seconds of decoded audio, before cropping. */
  duration: number
  /** (n, 224, 224, 3) CLIP-preprocessed frames, when asked for and the clip has pictures. */
  images: Float32Array | null
  /** Set when the clip was decoded as an MP3. */
  mp3Decoder?: Mp3Decoder
}

/**
 * Decode one file at its native rate into the model's log-mel input, and its frames if asked. A clip
 * shorter than one fbank frame, or whose log-mel is not finite, fails: an all-padding or NaN mel would
 * pass for a clip all the way to the scores.
 */
export async function melClip(task: MelTask): Promise<MelResult> {
  const [audio, images] = await Promise.all([
    decodeAudio(task.path),
    task.pictures || task.frames > 0 ? clipFrames(task) : null,
  ])
  const into = task.into && new Float32Array(task.into.buffer, task.into.offset, task.config.maxLen * NUM_MEL_BINS)
  const {mel, frames} = fileError(task.path, () =>
    logMel(audio.channels, audio.sampleRate, task.config, task.key, into),
  )
  const samples = audio.channels[0].length
  if (frames === 0)
    throw new UserError(
      `${task.path}: ${samples} samples at ${audio.sampleRate} Hz is shorter than one 25 ms fbank frame`,
    )
  // The padding repeats one value: the frames from audio and one row of padding are checked.
  requireFinite(mel.subarray(0, (frames + 1) * NUM_MEL_BINS), () => `${task.path}: the mel`, mel.length)
  const {sampleRate, duration, mp3Decoder} = audio
  return {mel, frames, sampleRate, channels: audio.channels.length, duration, images, mp3Decoder}
}

/** The fbank's own UserErrors (a rate too low for a 25 ms frame) do not know the file: they get its name. */
function fileError<T>(file: string, compute: () => T): T {
  try {
    return compute()
  } catch (err) {
    throw err instanceof UserError ? new UserError(`${file}: ${err.message}`) : err
  }
}

/** The image modules load only in a thread asked for frames: a tenth of the start-up of one that computes log-mels. */
async function clipFrames({path, pictures, frameFiles, frames}: MelTask): Promise<Float32Array | null> {
  const [{CLIP_IMAGE_FLOATS, clipImages}, {clipPreprocess}] = await Promise.all([
    import('../image/clip-images.js'),
    import('../image/clip-preprocess.js'),
  ])
  if (!pictures) return clipImages(path, frameFiles, frames)
  const out = new Float32Array(pictures.length * CLIP_IMAGE_FLOATS)
  pictures.forEach((picture, i) => out.set(clipPreprocess(picture), i * CLIP_IMAGE_FLOATS))
  return out
}
