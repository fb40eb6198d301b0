/**
 * The frozen image tower's outputs for an index table's frame files and videos, kept in RUN/frame-embeddings.arrow
 * once computed. Cutting and embedding the frames of an AudioSet-size index costs hundreds of CPU-hours
 * (docs/audioset-scale.md); a resumed run, or a new one in the same directory with the same frozen tower after a
 * failed start, reads them back instead. A clip is found by its id and its files, so a row added, removed or
 * pointed at another file is embedded afresh; the file holds the current run's clips only.
 */
import {existsSync} from 'node:fs'
import path from 'node:path'
import {Schema, type RecordBatch} from '../arrow/apache-arrow.js'
import {columnData, utf8} from '../arrow/columns.js'
import {openTableOutput, writeAll} from '../arrow/output.js'
import {RowReader} from '../arrow/row-reader.js'
import {sourceBatch} from '../arrow/stage.js'
import {rowSize, tensorData, tensorField, tensorRow, tensorShape, type TensorType} from '../arrow/tensor.js'
import type {Field} from '../arrow/apache-arrow.js'
import type {TrainConfig} from './config.js'
import type {Clip} from './pair-table.js'

export const FRAME_EMBEDDINGS_FILE = 'frame-embeddings.arrow'
const SETTINGS_KEY = 'vipant.frame-embeddings'
const ROWS_PER_BATCH = 4096

/** What decides a clip's frame embeddings besides its files: the frozen tower's source and the frames per video. */
function settings(config: TrainConfig): string {
  const {clip, init, model, seed, videoFrames} = config
  return JSON.stringify({clip, init, model, seed, videoFrames})
}

/** Clips whose frames come from files or videos, by id and files: a table's pixels or image_emb are not kept. */
function key(clip: Clip): string | undefined {
  const files = clip.framePaths ?? (clip.videoPath === undefined ? undefined : [clip.videoPath])
  return files && [clip.id, ...files].join('\t')
}

/** Sets the kept embeddings on the clips that have none yet; returns how many it set. */
export async function reuseFrameEmbeddings(config: TrainConfig, clips: readonly Clip[]): Promise<number> {
  const file = path.join(config.out, FRAME_EMBEDDINGS_FILE)
  if (!existsSync(file)) return 0
  const reader = await RowReader.open(file)
  if (reader.schema.metadata.get(SETTINGS_KEY) !== settings(config)) return 0
  const waiting = new Map<string, Clip>()
  for (const clip of clips) {
    const k = key(clip)
    if (k !== undefined && clip.frameEmb === undefined) waiting.set(k, clip)
  }
  const size = rowSize(tensorShape(reader.schema.fields.find((f) => f.name === 'image_emb') as Field).slice(1))
  let reused = 0
  for (const {batch} of reader.scan()) {
    const keys = batch.getChild('key')!
    const embeddings = batch.getChild('image_emb')!
    for (let i = 0; i < batch.numRows; i++) {
      const clip = waiting.get(keys.get(i) as string)
      if (!clip) continue
      const values = tensorRow(embeddings, i)!.slice()
      clip.frameEmb = Array.from({length: values.length / size}, (_, k) => values.subarray(k * size, (k + 1) * size))
      reused++
    }
  }
  return reused
}

/** Writes the clips' frame embeddings (those from files or videos) to the run directory, replacing what it held. */
export async function keepFrameEmbeddings(config: TrainConfig, clips: readonly Clip[]): Promise<void> {
  const kept = clips.filter((c) => key(c) !== undefined && c.frameEmb !== undefined && c.frameEmb.length > 0)
  if (kept.length === 0) return
  const size = kept[0].frameEmb![0].length
  const fields = [utf8('key'), tensorField('image_emb', [-1, size])]
  const schema = new Schema(fields, new Map([[SETTINGS_KEY, settings(config)]]))
  const batches = async function* (): AsyncIterable<RecordBatch> {
    for (let start = 0; start < kept.length; start += ROWS_PER_BATCH) {
      const part = kept.slice(start, start + ROWS_PER_BATCH)
      yield sourceBatch(schema, [
        columnData(fields[0], part.map(key)),
        tensorData(
          fields[1] as Field<TensorType>,
          part.map((c) => {
            const out = new Float32Array(c.frameEmb!.length * size)
            c.frameEmb!.forEach((e, k) => out.set(e, k * size))
            return out
          }),
        ),
      ])
    }
  }
  await writeAll(openTableOutput(schema, path.join(config.out, FRAME_EMBEDDINGS_FILE)), batches())
}
