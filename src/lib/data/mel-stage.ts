import type {Data, Field, RecordBatch, Schema} from '../arrow/apache-arrow.js'
import {columnData, float64, int32, utf8} from '../arrow/columns.js'
import type {TableInput} from '../arrow/input.js'
import {stageBatch, stageSchema} from '../arrow/stage.js'
import {fixedTensorData, tensorData, tensorField, type TensorDtype, type TensorType} from '../arrow/tensor.js'
import {UserError} from '../util/errors.js'
import {orderedMap, WorkerPool} from '../util/worker-pool.js'
import {pickFrames} from '../image/clip-images.js'
import {CLIP_IMAGE_SIZE} from '../image/clip-preprocess.js'
import {loadJpegDecoder} from '../image/jpeg.js'
import {PictureBatcher} from '../image/picture-batcher.js'
import {mp3Decoder} from '../audio/decode.js'
import {checkMaxLen, NUM_MEL_BINS, type MelConfig} from '../audio/mel-config.js'
import type {MelAnswer, MelTask} from './mel-clip.js'

export interface MelStageOptions {
  config: MelConfig
  /** Worker threads decoding and computing fbanks. */
  workers: number
  /**
   * The consumer is done with a batch once it asks for the next (writeAll, whose writes complete first): the `mel`
   * column is then a view of memory the stage reuses, not a copy.
   */
  reuse?: boolean
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

type Outcome = {status: 'ok'; result: MelAnswer} | {status: 'missing' | 'error'; error: string | null}
type Done = {batch: RecordBatch; index: number; outcome: Outcome; out?: OutBatch}

/**
 * An output batch in the making: consecutive rows of one input batch, whose log-mels the workers write straight
 * into one shared buffer, row after row, which becomes the `mel` column as it is when the consumer lets the stage
 * reuse it (`reuse`), else a copy of it. Buffers go back to `free` for later batches: a buffer a batch, allocated and
 * left to the garbage collector, had kept the main thread collecting for a third of its time, and let hundreds of
 * MB of them wait for the worker threads to drop theirs.
 */
class OutBatch {
  readonly buffer: SharedArrayBuffer
  rows = 0

  constructor(
    readonly input: RecordBatch,
    readonly start: number,
    private readonly rowFloats: number,
    private readonly capacity: number,
    private readonly free: SharedArrayBuffer[],
  ) {
    const bytes = 4 * rowFloats * capacity
    const fits = free.findIndex((buffer) => buffer.byteLength >= bytes)
    this.buffer = fits >= 0 ? free.splice(fits, 1)[0] : new SharedArrayBuffer(bytes)
  }

  /** Whether input row `index` of `input` may join this batch. */
  extends(input: RecordBatch, index: number): boolean {
    return input === this.input && index === this.start + this.rows && this.rows < this.capacity
  }

  /** The next row's place in the buffer. */
  add(): MelSlot {
    return {buffer: this.buffer, offset: 4 * this.rowFloats * this.rows++}
  }

  /**
   * The `mel` column of its rows (those not valid are null, their values zeroed): a view of the buffer, or a copy
   * of it with the buffer released at once.
   */
  column(field: Field<TensorType>, valid: readonly boolean[], view: boolean): Data<TensorType> {
    const values = new Float32Array(this.buffer, 0, this.rowFloats * valid.length)
    valid.forEach((ok, row) => ok || values.subarray(row * this.rowFloats, (row + 1) * this.rowFloats).fill(0))
    if (view) return fixedTensorData(field, values, valid)
    const column = fixedTensorData(field, values.slice(), valid)
    this.release()
    return column
  }

  release(): void {
    this.free.push(this.buffer)
  }
}
type MelSlot = NonNullable<MelTask['into']>

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
function noteMp3Fallback(result: MelAnswer): void {
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
  // Up to eight clips a thread: 25 ms of work on short clips, which keeps it busy while the main thread waits its
  // turn on a core the workers share with it (three at a time left each worker idle 2 % of the run). The threads start
  // as the first clips are sent: started before the input was listed, they slowed the listing more than they gained.
  const pool = new WorkerPool<MelTask, MelAnswer>(
    new URL('./mel-worker.js', import.meta.url),
    options.workers,
    undefined,
    8,
  )
  // Listed pictures (frame files) are decoded here, many rows per run; a wider window makes the runs larger.
  const pictures = new PictureBatcher()
  // Each worker holds several clips, so that it keeps busy while the main thread builds and writes a batch.
  const window = options.frames > 0 ? Math.max(32, pool.size * 8) : pool.size * 8
  const rowFloats = options.config.maxLen * NUM_MEL_BINS
  const own = melFields(options)

  type Row = {batch: RecordBatch; index: number}
  async function* rows(): AsyncIterable<Row> {
    for await (const batch of input.batches) for (let index = 0; index < batch.numRows; index++) yield {batch, index}
  }
  // Rows are given their place in an output batch as they are dispatched, in input order (process runs its
  // synchronous part row by row): a batch is a zero-copy slice of the input, so consecutive rows of one input batch.
  let filling: OutBatch | undefined
  const free: SharedArrayBuffer[] = []
  const place = (batch: RecordBatch, index: number): {out: OutBatch; into: MelSlot} => {
    // Sized for the rows the input batch has left: a large --batch-size over small input batches allocates no more.
    if (!filling?.extends(batch, index))
      filling = new OutBatch(batch, index, rowFloats, Math.min(options.batchSize, batch.numRows - index), free)
    return {out: filling, into: filling.add()}
  }
  const process = async ({batch, index}: Row): Promise<Done> => {
    const id = String(batch.getChild('id')?.get(index) ?? index)
    const path = batch.getChild('path')!.get(index) as string | null
    const status = (batch.getChild('status')?.get(index) as string | null) ?? 'ok'
    if (path === null || status === 'missing')
      return report({batch, index, outcome: {status: 'missing', error: null}}, id, path)
    const {out, into} = place(batch, index)
    if (status !== 'ok') {
      const error = (batch.getChild('error')?.get(index) as string | null) ?? null
      return report({batch, index, out, outcome: {status: status as 'error', error}}, id, path)
    }
    const frameFiles = (batch.getChild('frames')?.get(index)?.toArray() as string[] | undefined) ?? null
    const listed = options.frames > 0 && frameFiles !== null && frameFiles.length > 0
    const decoded = listed ? pictures.decode(pickFrames(frameFiles, options.frames)) : Promise.resolve(undefined)
    const {config, frames} = options
    const outcome = await decoded
      .then((images) => pool.run({key: id, path, config, frames, frameFiles, pictures: images, into}))
      .then(
        (result): Outcome => {
          noteMp3Fallback(result)
          return {status: 'ok', result}
        },
        (error: Error): Outcome => ({status: 'error', error: error.message}),
      )
    return report({batch, index, out, outcome}, id, path)
  }
  const report = (done: Done, id: string, path: string | null): Done => {
    const {outcome} = done
    if (outcome.status === 'error' && options.strict) throw new UserError(outcome.error ?? `${path}: failed`)
    options.onClip?.({
      id,
      path,
      status: outcome.status,
      duration: outcome.status === 'ok' ? outcome.result.duration : 0,
      error: outcome.status === 'ok' ? undefined : (outcome.error ?? undefined),
    })
    return done
  }

  let pending: Done[] = []
  // The pending rows as a batch; with `reuse`, its buffer is taken back once the consumer asks for the next.
  async function* flush() {
    const first = pending[0]
    const out = first.out!
    const slice = first.batch.slice(first.index, first.index + pending.length)
    const columns = ownColumns(
      own,
      out,
      pending.map((p) => p.outcome),
      options.reuse === true,
    )
    pending = []
    yield stageBatch(schema, slice, columns)
    if (options.reuse) out.release()
  }
  try {
    for await (const done of orderedMap(rows(), window, process)) {
      if (done.outcome.status === 'missing') continue
      if (pending.length > 0 && pending[0].out !== done.out) yield* flush()
      pending.push(done)
    }
    if (pending.length > 0) yield* flush()
  } finally {
    await pool.close()
  }
}

function ownColumns(fields: Field[], out: OutBatch, outcomes: Outcome[], view: boolean) {
  const ok = (o: Outcome) => (o.status === 'ok' ? o.result : null)
  const images = outcomes.map((o) => ok(o)?.images ?? null)
  const values: Record<string, unknown[]> = {
    mel_frames: outcomes.map((o) => ok(o)?.frames ?? null),
    sample_rate: outcomes.map((o) => ok(o)?.sampleRate ?? null),
    channels: outcomes.map((o) => ok(o)?.channels ?? null),
    duration: outcomes.map((o) => ok(o)?.duration ?? null),
    status: outcomes.map((o) => o.status),
    error: outcomes.map((o) => (o.status === 'ok' ? null : o.error)),
  }
  return fields.map((f) => {
    if (f.name === 'mel')
      return out.column(
        f as Field<TensorType>,
        outcomes.map((o) => o.status === 'ok'),
        view,
      )
    if (f.name === 'images') return tensorData(f as Field<TensorType>, images)
    return columnData(f, values[f.name])
  })
}
