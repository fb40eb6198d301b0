/**
 * A training (or held-out) table read into memory, one entry per usable clip: its log-mel, its frames or their
 * precomputed image embeddings, its captions (or its class as a prompt) or their precomputed text embeddings.
 * Random access keeps the data order a pure function of (seed, step), which is what makes resuming exact.
 */
import type {Field} from 'apache-arrow'
import {openTableInput} from '../arrow/input.js'
import {requireParams} from '../arrow/provenance.js'
import {rowSize, tensorRow, tensorShape} from '../arrow/tensor.js'
import {NUM_MEL_BINS, VIPANT_NORMS} from '../audio/mel-config.js'
import {classText} from '../eval/classification.js'
import {UserError} from '../util/errors.js'
import type {Pair} from './config.js'

export type TowerName = 'audio' | 'image' | 'text'

export interface Clip {
  id: string
  mel?: Float32Array
  /** Log-mel frames that came from audio (the rest is padding). */
  melFrames?: number
  frames?: Float32Array[]
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
  /** Rows left out: no log-mel (failed clips), no frames or no captions. */
  skipped: number
}

export function towersOf(pair: Pair): [TowerName, TowerName] {
  return pair.split('-') as [TowerName, TowerName]
}

/**
 * Reads the columns the pair needs. A tower's precomputed embeddings (`image_emb`, `text_emb`) are read when
 * `precomputed` lists it and the table has them; else its raw input (`images`; `captions`, or `class` as a prompt).
 */
export async function readPairTable(file: string, pair: Pair, precomputed: readonly TowerName[], prompt: string): Promise<PairTable> {
  const input = await openTableInput(file)
  const fields = new Map(input.schema.fields.map((f) => [f.name, f]))
  const needs = towersOf(pair)
  const column = (tower: TowerName): string => {
    const embedded = `${tower}_emb`
    if (tower !== 'audio' && precomputed.includes(tower) && fields.has(embedded)) return embedded
    const raw = tower === 'audio' ? ['mel'] : tower === 'image' ? ['images'] : ['captions', 'class']
    const found = raw.find((c) => fields.has(c))
    if (!found) {
      const hint = tower === 'audio' ? 'vipant mel' : tower === 'image' ? 'vipant mel --frames K, or vipant embed --tower image' : 'captions or class'
      throw new UserError(`${file}: the ${pair} pair needs a ${[...raw, ...(tower === 'audio' ? [] : [embedded])].join(' or ')} column (${hint})`)
    }
    return found
  }
  const used = needs.map(column)
  if (used.includes('mel')) requireParams(input.schema, file, 'mel', {num_mel_bins: NUM_MEL_BINS, norms: VIPANT_NORMS})
  const frameSize = fields.has('images') ? rowSize(tensorShape(fields.get('images') as Field).slice(1)) : 0
  const embSize = (name: string) => rowSize(tensorShape(fields.get(name) as Field).slice(1))
  const melLength = fields.has('mel') ? tensorShape(fields.get('mel') as Field)[0] : undefined
  const clips: Clip[] = []
  let skipped = 0
  for await (const batch of input.batches) {
    const get = (name: string) => batch.getChild(name)
    for (let i = 0; i < batch.numRows; i++) {
      const clip: Clip = {id: String(get('id')?.get(i) ?? clips.length + skipped)}
      const label = get('label')?.get(i)
      const className = get('class')?.get(i)
      if (label !== null && label !== undefined) clip.label = label as number
      if (className) clip.className = className as string
      for (const name of used) {
        if (name === 'mel') {
          clip.mel = tensorRow(get('mel')!, i) ?? undefined
          clip.melFrames = (get('mel_frames')?.get(i) as number | null) ?? melLength
        } else if (name === 'images') {
          clip.frames = split(tensorRow(get('images')!, i), frameSize)
        } else if (name === 'image_emb') {
          clip.frameEmb = split(tensorRow(get('image_emb')!, i), embSize('image_emb'))
        } else if (name === 'text_emb') {
          clip.captionEmb = split(tensorRow(get('text_emb')!, i), embSize('text_emb'))
        } else {
          const captions = get('captions')?.get(i)
          clip.captions = captions && captions.length > 0 ? ([...captions] as string[]) : className ? [classText(prompt, className as string)] : []
        }
      }
      const usable = (clip.mel !== undefined || !used.includes('mel')) && [clip.frames, clip.frameEmb, clip.captions, clip.captionEmb].every((items) => items === undefined || items.length > 0)
      if (usable) clips.push(clip)
      else skipped++
    }
  }
  if (clips.length === 0) throw new UserError(`${file}: no usable rows for the ${pair} pair (${skipped} without log-mel, frames or captions)`)
  return {source: file, clips, melLength, skipped}
}

function split(values: Float32Array | null, size: number): Float32Array[] {
  if (!values) return []
  return Array.from({length: values.length / size}, (_, k) => values.subarray(k * size, (k + 1) * size))
}
