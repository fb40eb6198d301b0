import {readdirSync} from 'node:fs'
import path from 'node:path'
import {UserError} from '../../util/errors.js'
import {CsvColumns, readCsvRecords} from '../csv.js'
import {ClipFinder, CLIP_SUFFIX} from '../download-layout.js'
import {indexRow, type DatasetSource, type IndexRow} from '../index-row.js'
import {compareNames, sortedEntries} from '../media.js'
import {labelNames, loadOntology, type Ontology} from '../ontology.js'
import {audioRoot, isFile, requireFile} from '../paths.js'
import {splitOfFile, type SplitFile} from '../splits.js'
import {isJsonLines, locateSrcRecord, readSrcIndex} from '../vipant-index.js'

const COLUMNS = ['YTID', 'start_seconds', 'end_seconds', 'positive_labels']
const SEGMENTS = /_segments\.csv$/
const SRC_PREFIX = 'src_'
/**
 * VIP-ANT index files that repeat other ones (docs/method.md §2.2): src_train_segments.csv concatenates unbalanced and
 * balanced, src_full_unbalanced_train_segments.csv is src_unbalanced_train_segments.csv.
 */
const ALIASES = new Set(['train_segments', 'full_unbalanced_train_segments'])

/** Every `*_segments.csv` in DIR by split name, the official file preferred over VIP-ANT's index of it. */
function segmentFiles(dir: string): SplitFile[] {
  const bySplit = new Map<string, string>()
  for (const entry of sortedEntries(dir)) {
    if (!SEGMENTS.test(entry.name) || !isFile(path.join(dir, entry.name))) continue
    const split = splitOfFile(entry.name, SRC_PREFIX)
    if (ALIASES.has(split) && entry.name.startsWith(SRC_PREFIX)) continue
    if (!bySplit.has(split) || !entry.name.startsWith(SRC_PREFIX)) bySplit.set(split, path.join(dir, entry.name))
  }
  return [...bySplit].map(([split, file]) => ({split, file})).sort((a, b) => compareNames(a.split, b.split))
}

function chooseFiles(dir: string, split: string | undefined, csv: string | undefined): SplitFile[] {
  if (csv !== undefined)
    return [{file: requireFile(csv, 'AudioSet segments'), split: split ?? splitOfFile(csv, SRC_PREFIX)}]
  const files = segmentFiles(dir)
  if (files.length === 0)
    throw new UserError(`${dir}: no *_segments.csv (AudioSet segments, e.g. balanced_train_segments.csv)`)
  if (split === undefined) return files
  // `eval` is as good as `eval_segments`.
  const chosen = files.filter((file) => file.split === split || file.split === `${split}_segments`)
  if (chosen.length === 0) {
    throw new UserError(`${dir}: no AudioSet split "${split}" (found ${files.map((file) => file.split).join(', ')})`)
  }
  return chosen
}

function ontologyOf(dir: string, file: string | undefined): Ontology | undefined {
  if (file !== undefined) return loadOntology(requireFile(file, 'AudioSet ontology'))
  const inDir = path.join(dir, 'ontology.json')
  return isFile(inDir) ? loadOntology(inDir) : undefined
}

function labelFields(mids: string[] | null, ontology: Ontology | undefined): Pick<IndexRow, 'labels' | 'label_names'> {
  return {labels: mids, label_names: mids && ontology ? labelNames(mids, ontology) : null}
}

/** Segments in either form: official (3 `#` lines, `", "` separators) or normalised (one header line). */
async function* segmentRows(
  file: string,
  split: string,
  ontology: Ontology | undefined,
  root: string,
  finder: () => ClipFinder,
): AsyncGenerator<IndexRow> {
  const columns = new CsvColumns(file, COLUMNS)
  let first = true
  for await (const record of readCsvRecords(file, {skipInitialSpace: true, comment: '#'})) {
    const header = first && record.fields[0] === COLUMNS[0]
    first = false
    if (header) continue
    const row = columns.row(record)
    const ytid = row.text('YTID')
    const found = finder().find(ytid)
    yield indexRow({
      id: ytid,
      dataset: 'audioset',
      path: found?.path ?? path.join(root, `${ytid}.${CLIP_SUFFIX}`),
      status: found ? 'ok' : 'missing',
      frames: found?.frames ?? null,
      split,
      start: row.number('start_seconds'),
      end: row.number('end_seconds'),
      ...labelFields(
        row
          .text('positive_labels')
          .replace(/["' ]/g, '')
          .split(',')
          .filter((mid) => mid !== ''),
        ontology,
      ),
    })
  }
}

async function* srcRows(
  file: string,
  split: string,
  ontology: Ontology | undefined,
  root: string,
): AsyncGenerator<IndexRow> {
  for await (const record of readSrcIndex(file)) {
    yield indexRow({
      id: record.id,
      dataset: 'audioset',
      ...locateSrcRecord(root, record),
      split,
      start: record.start,
      end: record.end,
      ...labelFields(record.labels, ontology),
    })
  }
}

export const audioset: DatasetSource = {
  description: "AudioSet: 10 s YouTube segments with ontology labels, downloaded in VIP-ANT's layout",
  layout: `DIR/*_segments.csv (official or one-header-line form, or VIP-ANT's src_*_segments.csv JSON lines), DIR/ontology.json, DIR/<chunk>/aclip/{ytid}.${CLIP_SUFFIX} and DIR/<chunk>/frame/{ytid}.p0.4_0{1..4}.jpg`,
  options: ['split', 'audioDir', 'csv', 'ontology'],
  detect: (dir) => readdirSync(dir).some((name) => SEGMENTS.test(name)),
  async *rows(dir, options) {
    const files = chooseFiles(dir, options.split, options.csv)
    const ontology = ontologyOf(dir, options.ontology)
    const root = audioRoot(options, dir)
    // One scan of the download tree for all files, and none when only VIP-ANT indexes (which say where) are read.
    let finder: ClipFinder | undefined
    const getFinder = () => (finder ??= new ClipFinder([root]))
    for (const {split, file} of files) {
      yield* isJsonLines(file)
        ? srcRows(file, split, ontology, root)
        : segmentRows(file, split, ontology, root, getFinder)
    }
  },
}
