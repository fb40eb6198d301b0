import path from 'node:path'
import {UserError} from '../util/errors.js'
import {audiocaps} from './datasets/audiocaps.js'
import {audioset} from './datasets/audioset.js'
import {clotho} from './datasets/clotho.js'
import {esc50} from './datasets/esc50.js'
import {folder} from './datasets/folder.js'
import {withDownloadOutcomes} from './download/clip-log.js'
import {synth} from './datasets/synth.js'
import {us8k} from './datasets/us8k.js'
import type {DatasetName, DatasetSource, IndexRow, IngestOptions} from './index-row.js'
import {isMediaFile} from './media.js'
import {isDir, isFile, requireDir} from './paths.js'

export type {DatasetName, IndexRow, IngestOptions} from './index-row.js'

const SOURCES: Record<DatasetName, DatasetSource> = {esc50, us8k, clotho, audiocaps, audioset, synth, folder}

/** Name, description and on-disk layout of each dataset, for --help. */
export const DATASETS: Readonly<Record<DatasetName, {description: string; layout: string}>> = SOURCES

/** The full class list of a dataset with a fixed label set (esc50, us8k), by label. */
export function datasetClasses(name: string): readonly string[] | undefined {
  return Object.hasOwn(SOURCES, name) ? SOURCES[name as DatasetName].classes : undefined
}

/**
 * Most specific layout first. AudioSet goes before AudioCaps because VIP-ANT's data root holds both
 * src_*_segments.csv and src_audiocaps_*.csv, and is mainly AudioSet; folder, matching any media, goes last.
 */
const DETECTION_ORDER: DatasetName[] = ['esc50', 'us8k', 'clotho', 'audioset', 'audiocaps', 'synth', 'folder']

/** The dataset whose layout DIR has; a single media file or a tree of media with no known layout is a 'folder'. */
export function detectDataset(dir: string): DatasetName | null {
  if (isFile(dir)) return isMediaFile(dir) ? 'folder' : null
  if (!isDir(dir)) return null
  return DETECTION_ORDER.find((name) => SOURCES[name].detect(dir)) ?? null
}

/** The index rows of a dataset, one per clip, in metadata order; metadata problems surface on iteration. */
export async function* ingest(
  dataset: DatasetName,
  dir: string,
  options: IngestOptions = {},
): AsyncGenerator<IndexRow> {
  const source = SOURCES[dataset] as DatasetSource | undefined
  if (!source) throw new UserError(`unknown dataset "${dataset}" (one of ${Object.keys(SOURCES).join(', ')})`)
  const unused = (Object.keys(options) as (keyof IngestOptions)[]).filter(
    (key) => options[key] !== undefined && !source.options.includes(key),
  )
  if (unused.length > 0) throw new UserError(`${dataset} does not take the ${unused.join(', ')} option`)
  // Only a folder dataset may be a single file.
  const root = dataset === 'folder' && isFile(dir) ? path.resolve(dir) : requireDir(dir)
  const rows = source.rows(root, options)
  yield* dataset === 'audioset' || dataset === 'audiocaps' ? withDownloadOutcomes(rows, root) : rows
}
