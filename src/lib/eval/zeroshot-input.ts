import {readFile} from 'node:fs/promises'
import type {Field, RecordBatch} from '../arrow/apache-arrow.js'
import {columnData, int32, utf8} from '../arrow/columns.js'
import type {TableInput} from '../arrow/input.js'
import {sourceBatch, sourceSchema} from '../arrow/stage.js'
import {forEachEmbedded} from './embedded-rows.js'
import {tensorData, tensorField, type TensorType} from '../arrow/tensor.js'
import {datasetClasses} from '../data/ingest.js'
import {UserError} from '../util/errors.js'

/**
 * What the dataset's metadata lists, seen before the mel stage drops the clips missing on disk: the
 * class names of every label (so 6 ESC-50 clips on disk are still scored against all 50 classes),
 * and the counts and folds that the report states.
 */
export interface Listing {
  listed: number
  missing: number
  folds: Set<number>
  names: Map<number, string>
}

/** Passes an index table through unchanged, filling `listing` as its rows go by. */
export function tallyIndex(input: TableInput): {input: TableInput; listing: Listing} {
  const listing: Listing = {listed: 0, missing: 0, folds: new Set(), names: new Map()}
  async function* batches(): AsyncIterable<RecordBatch> {
    for await (const batch of input.batches) {
      for (let i = 0; i < batch.numRows; i++) {
        listing.listed++
        if (batch.getChild('status')?.get(i) === 'missing') listing.missing++
        const fold = batch.getChild('fold')?.get(i) as number | null
        if (fold !== null && fold !== undefined) listing.folds.add(fold)
        noteName(listing.names, batch, i)
      }
      yield batch
    }
  }
  return {input: {...input, batches: batches()}, listing}
}

/** One clip to score: a row with an audio embedding. */
export interface EvalClip {
  id: string
  /** The clip's file (the index's `path`), for players on the --html page; null in a table without it. */
  path?: string | null
  fold: number | null
  label: number | null
  className: string | null
  dataset: string | null
  audio: Float32Array
}

/**
 * The rows of a table carrying `audio_emb`, held in memory (one small vector per clip). Rows whose
 * embedding is null (clips that failed to decode) are counted, not scored.
 */
export async function collectClips(
  input: TableInput,
): Promise<{clips: EvalClip[]; failed: number; names: Map<number, string>}> {
  const clips: EvalClip[] = []
  const names = new Map<number, string>()
  const {failed} = await forEachEmbedded(input, 'vipant embed --raw makes one', (batch, i, audio) => {
    noteName(names, batch, i)
    clips.push({
      id: String(batch.getChild('id')?.get(i) ?? clips.length),
      path: (batch.getChild('path')?.get(i) as string | null | undefined) ?? null,
      fold: (batch.getChild('fold')?.get(i) as number | null | undefined) ?? null,
      label: (batch.getChild('label')?.get(i) as number | null | undefined) ?? null,
      className: (batch.getChild('class')?.get(i) as string | null | undefined) ?? null,
      dataset: (batch.getChild('dataset')?.get(i) as string | null | undefined) ?? null,
      audio,
    })
  })
  return {clips, failed, names}
}

function noteName(names: Map<number, string>, batch: RecordBatch, i: number): void {
  const label = batch.getChild('label')?.get(i) as number | null | undefined
  const name = batch.getChild('class')?.get(i) as string | null | undefined
  if (label !== null && label !== undefined && name) names.set(label, name)
}

/** Lines of a list file (--classes, --prompts), blank lines skipped. */
export async function readList(file: string, what: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => {
    throw new UserError(`${file}: no such file`)
  })
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '')
  if (lines.length === 0) throw new UserError(`${file}: no ${what} in it`)
  return lines
}

/**
 * The class list, index = label: from --classes, else the dataset's own (ESC-50 and US8K have fixed label sets:
 * a table of some of their clips is still scored against every class), else from the table's (label, class) pairs,
 * which must name every label from 0 to the largest; a table with class names but no labels gets them sorted.
 */
export function resolveClasses(
  source: string,
  names: Map<number, string>,
  clips: readonly EvalClip[],
  given?: string[],
): string[] {
  if (given) return given
  const datasets = new Set(clips.map((c) => c.dataset))
  const fixed = datasets.size === 1 ? datasetClasses(String([...datasets][0])) : undefined
  if (fixed && [...names].every(([label, name]) => fixed[label] === name)) return [...fixed]
  if (names.size === 0) {
    const unlabelled = [...new Set(clips.map((c) => c.className).filter((n): n is string => n !== null))].sort()
    if (unlabelled.length > 0) return unlabelled
    throw new UserError(
      `${source}: no class or label column to evaluate against; give the class names with --classes FILE`,
    )
  }
  const count = Math.max(...names.keys()) + 1
  const unnamed = Array.from({length: count}, (_, j) => j).filter((j) => !names.has(j))
  if (unnamed.length > 0) {
    throw new UserError(
      `${source}: labels run to ${count - 1} but no class name is known for ${unnamed.length} of them (e.g. ${unnamed[0]}); give them with --classes FILE`,
    )
  }
  return Array.from({length: count}, (_, j) => names.get(j)!)
}

/**
 * Each clip's label index: its `label`, else its `class` looked up in the class list, else null for a clip that
 * carries neither (one's own unlabelled sounds: predicted, not scored).
 */
export function clipLabels(source: string, clips: readonly EvalClip[], classes: readonly string[]): (number | null)[] {
  return clips.map((clip) => {
    if (clip.label === null && clip.className === null) return null
    const label = clip.label ?? classes.indexOf(clip.className!)
    if (label < 0 || label >= classes.length) {
      const what = clip.label === null ? `class ${JSON.stringify(clip.className)}` : `label ${clip.label}`
      throw new UserError(`${source}: clip ${clip.id} has ${what}, not one of the ${classes.length} classes`)
    }
    return label
  })
}

/** The per-clip table of --predictions: id, fold, label (null for an unlabelled clip), predicted, and the scores of every class. */
export function predictionsTable(
  rows: {id: string; fold: number | null; label: number | null; predicted: number; scores: Float64Array}[],
  classes: readonly string[],
  params: Record<string, unknown>,
  version: string,
): TableInput {
  const fields = [
    utf8('id'),
    int32('fold'),
    int32('label'),
    int32('predicted'),
    tensorField('scores', [classes.length], {classes: JSON.stringify(classes)}),
  ]
  const schema = sourceSchema(fields, {command: 'zeroshot', version, params})
  const columns = [
    columnData(
      fields[0],
      rows.map((r) => r.id),
    ),
    columnData(
      fields[1],
      rows.map((r) => r.fold),
    ),
    columnData(
      fields[2],
      rows.map((r) => r.label),
    ),
    columnData(
      fields[3],
      rows.map((r) => r.predicted),
    ),
    tensorData(
      fields[4] as Field<TensorType>,
      rows.map((r) => Float32Array.from(r.scores)),
    ),
  ]
  async function* batches(): AsyncIterable<RecordBatch> {
    yield sourceBatch(schema, columns)
  }
  return {source: 'predictions', schema, batches: batches()}
}
