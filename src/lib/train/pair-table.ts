/**
 * A training (or held-out) table, one entry per usable clip: its log-mel, its frames or their precomputed image
 * embeddings, its captions (or its class as a prompt) or their precomputed text embeddings. Log-mels and frames
 * (a real pre-training table is ~1 TB of them) stay on disk and are read at each access through a bounded cache;
 * the rest is held in memory. Random access keeps the data order a pure function of (seed, step), which is what
 * makes resuming exact.
 */
import type {Field, Vector} from '../arrow/apache-arrow.js'
import {requireParams} from '../arrow/provenance.js'
import {RowReader} from '../arrow/row-reader.js'
import {rowSize, tensorRow, tensorShape} from '../arrow/tensor.js'
import {NUM_MEL_BINS, VIPANT_NORMS} from '../audio/mel-config.js'
import {classText} from '../eval/classification.js'
import type {TowerName} from '../towers/towers.js'
import {UserError} from '../util/errors.js'
import type {Pair} from './config.js'

/** The towers' names, for train/'s modules that take them from here. */
export type {TowerName}

export interface Clip {
  id: string
  mel?: Float32Array
  /** Log-mel frames that came from audio (the rest is padding). */
  melFrames?: number
  /** The audio file of an index table's row (no `mel` column): its log-mel is computed while training runs. */
  audioPath?: string
  frames?: Float32Array[]
  /** Frame files (an AudioSet index's `frames`), decoded only when the frozen image tower embeds them. */
  framePaths?: string[]
  /**
   * A bare video of an index table (no frame files listed): the frozen image tower embeds the frames that
   * `vipant mel --frames K` would cut from it (frame-source.ts).
   */
  videoPath?: string
  frameEmb?: Float32Array[]
  captions?: string[]
  captionEmb?: Float32Array[]
  label?: number
  className?: string
}

export interface PairTable {
  source: string
  clips: Clip[]
  /** Frames per log-mel row, when the table has a mel column. */
  melLength?: number
  /** An index table: log-mels come from the audio files (`path`) on the fly (mel-feeder.ts). */
  onTheFly: boolean
  /** Rows left out: no log-mel (failed clips), no frames or no captions. */
  skipped: number
}

/** Where a tower's training input comes from, for the messages of a table that lacks it. */
const SOURCE_HINT: Record<TowerName, string> = {
  audio: 'log-mels: vipant mel',
  image:
    "frames: vipant mel --frames K on videos, an index table's frame files or videos, or vipant embed --tower image",
  text: 'captions: a captions or class column',
}

export function towersOf(pair: Pair): [TowerName, TowerName] {
  return pair.split('-') as [TowerName, TowerName]
}

/**
 * Reads the columns the pair needs. A tower's precomputed embeddings (`image_emb`, `text_emb`) are read when
 * `precomputed` lists it and the table has them; else its raw input (`images`; `captions`, or `class` as a prompt).
 */
export async function readPairTable(
  file: string,
  pair: Pair,
  precomputed: readonly TowerName[],
  prompt: string,
): Promise<PairTable> {
  const reader = await RowReader.open(file)
  const fields = new Map(reader.schema.fields.map((f) => [f.name, f]))
  const needs = towersOf(pair)
  // An index table (no log-mels): a row that lists no frame files has its frames cut from its video (`video`, its path).
  const index = fields.has('path') && !fields.has('mel')
  const has = (name: string) => fields.has(name === 'video' ? 'path' : name)
  const column = (tower: TowerName): string => {
    const embedded = `${tower}_emb`
    if (tower !== 'audio' && precomputed.includes(tower) && fields.has(embedded)) return embedded
    // A frozen image tower runs once, before training: then frame files named by the index will do as well as pixels.
    const raw =
      tower === 'audio'
        ? ['mel', 'path']
        : tower === 'image'
          ? precomputed.includes('image')
            ? ['images', 'frames', ...(index ? ['video'] : [])]
            : ['images']
          : ['captions', 'class']
    const found = raw.find(has)
    if (!found) {
      throw new UserError(
        `${file}: the ${pair} pair needs the column ${[...raw, ...(tower === 'audio' ? [] : [embedded])].map((c) => `"${c}"`).join(' or ')} (${SOURCE_HINT[tower]})`,
      )
    }
    return found
  }
  const used = needs.map(column)
  if (used.includes('mel')) requireParams(reader.schema, file, 'mel', {num_mel_bins: NUM_MEL_BINS, norms: VIPANT_NORMS})
  const frameSize = fields.has('images') ? rowSize(tensorShape(fields.get('images') as Field).slice(1)) : 0
  const embSize = (name: string) => rowSize(tensorShape(fields.get(name) as Field).slice(1))
  const melLength = used.includes('mel') ? tensorShape(fields.get('mel') as Field)[0] : undefined
  const clips: Clip[] = []
  let skipped = 0
  // This pass reads every column but the log-mels' and frames' values: their validity and lengths decide usability.
  for (const {start, batch} of reader.scan(used.filter((name) => name === 'mel' || name === 'images'))) {
    const get = (name: string) => batch.getChild(name)
    for (let i = 0; i < batch.numRows; i++) {
      const row = start + i
      const clip: Clip = {id: String(get('id')?.get(i) ?? row)}
      const label = get('label')?.get(i)
      const className = get('class')?.get(i)
      if (label !== null && label !== undefined) clip.label = label as number
      if (className) clip.className = className as string
      let usable = true
      for (const name of used) {
        if (name === 'mel') {
          usable &&= get('mel')!.isValid(i)
          onDemand(clip, 'mel', () => reader.row('mel', row) ?? undefined)
          clip.melFrames = (get('mel_frames')?.get(i) as number | null) ?? melLength
        } else if (name === 'path') {
          // Rows vipant fetch could not fetch (status missing or error) have nothing to decode.
          const file = get('path')!.get(i) as string | null
          usable &&= file !== null && ((get('status')?.get(i) as string | null) ?? 'ok') === 'ok'
          if (file !== null) clip.audioPath = file
        } else if (name === 'images') {
          usable &&= (get('images')!.get(i)?.length ?? 0) > 0
          onDemand(clip, 'frames', () => split(reader.row('images', row), frameSize))
        } else if (name === 'frames' || name === 'video') {
          const listed = [...((get('frames')?.get(i) as Iterable<string> | null) ?? [])]
          const video = index ? (get('path')!.get(i) as string | null) : null
          if (listed.length > 0) clip.framePaths = listed
          else if (video !== null) clip.videoPath = video
          else usable = false
        } else if (name === 'image_emb') {
          clip.frameEmb = split(held(get('image_emb')!, i), embSize('image_emb'))
        } else if (name === 'text_emb') {
          clip.captionEmb = split(held(get('text_emb')!, i), embSize('text_emb'))
        } else {
          const captions = get('captions')?.get(i)
          clip.captions =
            captions && captions.length > 0
              ? ([...captions] as string[])
              : className
                ? [classText(prompt, className as string)]
                : []
        }
      }
      usable &&= [clip.frameEmb, clip.captions, clip.captionEmb].every(
        (items) => items === undefined || items.length > 0,
      )
      if (usable) clips.push(clip)
      else skipped++
    }
  }
  if (clips.length === 0) {
    const hints = needs.map((tower) => SOURCE_HINT[tower]).join('; ')
    throw new UserError(
      `${file}: no usable rows for the ${pair} pair: ${skipped} without log-mel, frames or captions (${hints})`,
    )
  }
  return {source: file, clips, melLength, onTheFly: used.includes('path'), skipped}
}

/**
 * A property read through the row reader at each access, so no clip holds its rows; assigning replaces it with
 * a plain value (the trainer drops frames once it has embedded them).
 */
function onDemand<K extends 'mel' | 'frames'>(clip: Clip, key: K, read: () => Clip[K]): void {
  Object.defineProperty(clip, key, {
    enumerable: true,
    configurable: true,
    get: read,
    set(value: Clip[K]) {
      Object.defineProperty(clip, key, {value, writable: true, enumerable: true, configurable: true})
    },
  })
}

/** A row copied out of its batch, so that holding it does not hold the batch. */
function held(column: Vector, i: number): Float32Array | null {
  return tensorRow(column, i)?.slice() ?? null
}

function split(values: Float32Array | null, size: number): Float32Array[] {
  if (!values) return []
  return Array.from({length: values.length / size}, (_, k) => values.subarray(k * size, (k + 1) * size))
}
