import type {Field, RecordBatch, Schema} from 'apache-arrow'
import {columnData, float64, int32, utf8} from '../arrow/columns.js'
import type {TableInput} from '../arrow/input.js'
import {stageBatch, stageSchema} from '../arrow/stage.js'
import {tensorData, tensorField, type TensorDtype, type TensorType} from '../arrow/tensor.js'
import {UserError} from '../util/errors.js'
import {orderedMap, WorkerPool} from '../util/worker-pool.js'
import {pickFrames} from '../image/clip-images.js'
import {CLIP_IMAGE_SIZE} from '../image/clip-preprocess.js'
import {loadJpegDecoder} from '../image/jpeg.js'
import {PictureBatcher} from '../image/picture-batcher.js'
import {mp3Decoder} from '../audio/decode.js'
import {checkMaxLen, NUM_MEL_BINS, type MelConfig} from '../audio/mel-config.js'
import type {MelResult, MelTask} from './mel-clip.js'

export interface MelStageOptions {
  config: MelConfig
  /** Worker threads decoding and computing fbanks. */
  workers: number
  /** Stop at the first clip that fails instead of recording it as an error row. */
  strict: boolean
  /** Rows per output batch: small enough that a pipe starts flowing at once. */
  batchSize: number
  /** Video frames per clip for the image tower (0: no `images` column). */
  frames: number
  /** How the `mel` column stores its values: float16 halves the disk (a 10 s clip: 256 KB instead of 512 KB). */
  dtype?: TensorDtype
  onClip?: (event: ClipEvent) => void
}

export interface ClipEvent {
  id: string
  /** The clip's file, for messages (null when the row names none). */
  path: string | null
  status: 'ok' | 'missing' | 'error'
  /** Seconds of audio decoded (0 when not ok). */
  duration: number
  error?: string
}

type Outcome = {status: 'ok'; result: MelResult} | {status: 'missing' | 'error'; error: string | null}
type Done = {batch: RecordBatch; index: number; outcome: Outcome; slot?: MelSlot}
type MelSlot = NonNullable<MelTask['into']>

/**
 * Shared memory the workers write log-mels into, one row per clip in flight or waiting for its batch, each row
 * reused once its batch is built: a clip's 512 KB is neither allocated nor moved between threads, which left the
 * main thread collecting garbage for a third of its time.
 */
class MelSlots {
  private readonly buffer: SharedArrayBuffer
  private readonly free: number[]

  constructor(rowBytes: number, count: number) {
    this.buffer = new SharedArrayBuffer(rowBytes * count)
    this.free = Array.from({length: count}, (_, i) => (count - 1 - i) * rowBytes)
  }

  acquire(): MelSlot {
    const offset = this.free.pop()
    if (offset === undefined) throw new Error('mel stage: more rows in flight than slots')
    return {buffer: this.buffer, offset}
  }

  release(slot: MelSlot): void {
    this.free.push(slot.offset)
  }
}

export function melStageSchema(input: Schema, options: MelStageOptions, version: string): Schema {
  checkMaxLen(options.config.maxLen)
  const params = {
    ...melParams(options.config),
    ...(options.frames > 0 ? {frames: options.frames, image_size: CLIP_IMAGE_SIZE} : {}),
  }
  return stageSchema(input, melFields(options), {command: 'mel', version, params})
}

/**
 * What later stages check before using the `mel` column (see requireParams), and how MP3s were decoded:
 * "sox+libmad" as VIP-ANT's features were, or "ffmpeg, sox layout" within 8.2e-2 of them (docs/log-mel.md).
 */
export function melParams(config: MelConfig): Record<string, unknown> {
  return {
    max_len: config.maxLen,
    num_mel_bins: NUM_MEL_BINS,
    crop: config.crop,
    seed: config.seed,
    zero_mean: config.zeroMean,
    norms: config.norms,
    fbank: 'kaldi',
    mp3_decoder: mp3Decoder(),
  }
}

let fallbackNoted = false

/** Once per process, at the first MP3 that did not go through sox: its log-mel is close to the original's, not equal. */
function noteMp3Fallback(result: MelResult): void {
  if (fallbackNoted || result.mp3Decoder !== 'ffmpeg, sox layout') return
  fallbackNoted = true
  process.stderr.write(
    'note: MP3s are decoded by ffmpeg laid out as sox would, within 8.2e-2 of the original log-mels; ' +
      "for libmad's samples, as VIP-ANT had them, install sox with MP3 support (apt-get install sox libsox-fmt-mp3)\n",
  )
}

function melFields({config, frames, dtype}: MelStageOptions): Field[] {
  return [
    tensorField('mel', [config.maxLen, NUM_MEL_BINS], {}, dtype),
    ...(frames > 0 ? [tensorField('images', [-1, CLIP_IMAGE_SIZE, CLIP_IMAGE_SIZE, 3])] : []),
    int32('mel_frames'),
    int32('sample_rate'),
    int32('channels'),
    float64('duration'),
    utf8('status'),
    utf8('error'),
  ]
}

/**
 * The mel stage over a streamed table: each row's file becomes a (maxLen, 128) log-mel, computed by a
 * pool of workers; rows come out in input order, in batches of at most `batchSize`, while later rows
 * are still being read. Rows whose file is missing are counted and left out (a fixed-size tensor
 * column would spend a full slot of zeros on each); rows that fail to decode stay, with status "error".
 */
export async function* melStage(
  input: TableInput,
  schema: Schema,
  options: MelStageOptions,
): AsyncIterable<RecordBatch> {
  const pathColumn = input.schema.fields.find((f) => f.name === 'path')
  if (!pathColumn) throw new UserError(`${input.source}: no 'path' column; expected an index table (vipant fetch ...)`)
  // Workers decode the frames they cut from videos: the JPEG decoder's libraries are loaded here first (see image/jpeg.ts).
  if (options.frames > 0) await loadJpegDecoder()
  const pool = new WorkerPool<MelTask, MelResult>(new URL('./mel-worker.js', import.meta.url), options.workers)
  // Listed pictures (frame files) are decoded here, many rows per run; a wider window makes the runs larger.
  const pictures = new PictureBatcher()
  const window = options.frames > 0 ? Math.max(32, pool.size * 4) : pool.size * 4
  // Rows in flight (window) and rows waiting for their batch (batchSize) each hold a slot.
  const slots = new MelSlots(4 * options.config.maxLen * NUM_MEL_BINS, window + options.batchSize)
  const own = melFields(options)

  type Row = {batch: RecordBatch; index: number}
  async function* rows(): AsyncIterable<Row> {
    for await (const batch of input.batches) for (let index = 0; index < batch.numRows; index++) yield {batch, index}
  }
  const process = async ({batch, index}: Row): Promise<Done> => {
    const id = String(batch.getChild('id')?.get(index) ?? index)
    const path = batch.getChild('path')!.get(index) as string | null
    const status = (batch.getChild('status')?.get(index) as string | null) ?? 'ok'
    let outcome: Outcome
    let slot: MelSlot | undefined
    if (path === null || status === 'missing') outcome = {status: 'missing', error: null}
    else if (status !== 'ok') outcome = {status: status as 'error', error: batch.getChild('error')?.get(index) ?? null}
    else {
      const frameFiles = (batch.getChild('frames')?.get(index)?.toArray() as string[] | undefined) ?? null
      const listed = options.frames > 0 && frameFiles !== null && frameFiles.length > 0
      const decoded = listed ? pictures.decode(pickFrames(frameFiles, options.frames)) : Promise.resolve(undefined)
      const into = (slot = slots.acquire())
      const {config, frames} = options
      outcome = await decoded
        .then((images) => pool.run({key: id, path, config, frames, frameFiles, pictures: images, into}))
        .then((result) => ({...result, mel: new Float32Array(into.buffer, into.offset, config.maxLen * NUM_MEL_BINS)}))
        .then(
          (result): Outcome => {
            noteMp3Fallback(result)
            return {status: 'ok', result}
          },
          (error: Error): Outcome => ({status: 'error', error: error.message}),
        )
    }
    if (outcome.status === 'error' && options.strict) throw new UserError(outcome.error ?? `${path}: failed`)
    options.onClip?.({
      id,
      path,
      status: outcome.status,
      duration: outcome.status === 'ok' ? outcome.result.duration : 0,
      error: outcome.status === 'ok' ? undefined : (outcome.error ?? undefined),
    })
    return {batch, index, outcome, slot}
  }

  let pending: Done[] = []
  const flush = () => {
    const first = pending[0]
    const slice = first.batch.slice(first.index, first.index + pending.length)
    const outcomes = pending.map((p) => p.outcome)
    const columns = ownColumns(own, outcomes) // copies the log-mels out of their slots
    for (const {slot} of pending) if (slot) slots.release(slot)
    pending = []
    return stageBatch(schema, slice, columns)
  }
  try {
    for await (const done of orderedMap(rows(), window, process)) {
      if (done.outcome.status === 'missing') continue
      // A batch is a zero-copy slice of the input: consecutive rows of one input batch.
      const last = pending.at(-1)
      if (last && (last.batch !== done.batch || last.index + 1 !== done.index || pending.length >= options.batchSize))
        yield flush()
      pending.push(done)
    }
    if (pending.length > 0) yield flush()
  } finally {
    await pool.close()
  }
}

function ownColumns(fields: Field[], outcomes: Outcome[]) {
  const ok = (o: Outcome) => (o.status === 'ok' ? o.result : null)
  const tensors: Record<string, (Float32Array | null)[]> = {
    mel: outcomes.map((o) => ok(o)?.mel ?? null),
    images: outcomes.map((o) => ok(o)?.images ?? null),
  }
  const values: Record<string, unknown[]> = {
    mel_frames: outcomes.map((o) => ok(o)?.frames ?? null),
    sample_rate: outcomes.map((o) => ok(o)?.sampleRate ?? null),
    channels: outcomes.map((o) => ok(o)?.channels ?? null),
    duration: outcomes.map((o) => ok(o)?.duration ?? null),
    status: outcomes.map((o) => o.status),
    error: outcomes.map((o) => (o.status === 'ok' ? null : o.error)),
  }
  return fields.map((f) =>
    f.name in tensors ? tensorData(f as Field<TensorType>, tensors[f.name]) : columnData(f, values[f.name]),
  )
}
