/** One row of the index table: one clip of a dataset, as found (or not found) on disk. */

export type DatasetName = 'esc50' | 'us8k' | 'clotho' | 'audiocaps' | 'audioset' | 'synth' | 'folder'

export interface IndexRow {
  id: string
  dataset: DatasetName
  /** Absolute path of the audio/video file; for a missing file, where it was expected. */
  path: string | null
  /** unavailable: a YouTube clip the download found gone (private, removed, blocked). */
  status: 'ok' | 'missing' | 'unavailable'
  split: string | null
  fold: number | null
  label: number | null
  class: string | null
  captions: string[] | null
  /** AudioSet ontology MIDs. */
  labels: string[] | null
  /** Names of `labels`, resolved through ontology.json. */
  label_names: string[] | null
  /** Seconds. */
  start: number | null
  end: number | null
  /** Absolute paths of the clip's video frames. */
  frames: string[] | null
  /** Why a clip is not on disk, when a download said (only set then). */
  reason?: string
}

export interface IngestOptions {
  /** Dataset-specific split, e.g. clotho 'evaluation', audiocaps 'test', audioset 'eval_segments'. */
  split?: string
  /** Folder holding the audio, in place of the dataset's default. */
  audioDir?: string
  /** AudioSet/AudioCaps metadata file to read instead of the ones found in DIR. */
  csv?: string
  /** AudioSet ontology.json, in place of DIR/ontology.json. */
  ontology?: string
}

/** What each dataset module provides; ingest.ts dispatches over these. */
export interface DatasetSource {
  description: string
  layout: string
  /** The options this dataset understands; any other given option is an error rather than silently ignored. */
  options: (keyof IngestOptions)[]
  /** Whether DIR has this dataset's layout. */
  detect(dir: string): boolean
  rows(dir: string, options: IngestOptions): AsyncIterable<IndexRow>
  /** Class names by label for a fixed label set: they name every class even in a table holding some of the clips. */
  classes?: readonly string[]
}

type Required = Pick<IndexRow, 'id' | 'dataset' | 'path' | 'status'>

/**
 * A row with every field not given set to null, so dataset modules only state what they know. Keys come in the
 * declared order whatever order they are given in (a spread keeps a key's first position).
 */
export function indexRow(fields: Required & Partial<IndexRow>): IndexRow {
  const {id, dataset, path, status, ...known} = fields
  return {
    id,
    dataset,
    path,
    status,
    split: null,
    fold: null,
    label: null,
    class: null,
    captions: null,
    labels: null,
    label_names: null,
    start: null,
    end: null,
    frames: null,
    ...known,
  }
}
