import {mkdir} from 'node:fs/promises'
import {UserError} from '../../util/errors.js'
import type {DatasetName} from '../index-row.js'
import {detectDataset} from '../ingest.js'
import {
  DATASET_FILES,
  downloadDataset,
  isDownloadable,
  type DatasetDownloadOptions,
  type DatasetDownloadResult,
  type DownloadableDataset,
} from './archives.js'
import {downloadYoutubeSet, type YoutubeSetOptions, type YoutubeSetSummary} from './youtube-set.js'

/** Clips fetched at once when --jobs is not given. */
const DEFAULT_JOBS = 4

/** What `fetch --download` did: the published files and, for the YouTube-based sets, the clips. */
export interface DownloadSummary {
  dataset: DownloadableDataset
  dir: string
  files: DatasetDownloadResult[]
  clips?: YoutubeSetSummary
}

export type DownloadForIndexOptions = Omit<YoutubeSetOptions, 'jobs' | 'onClip'> & {jobs?: number}

/** Who hears how a download goes; every part is optional. */
export interface DownloadReporter {
  /** Progress and retries of one published file's download. */
  file?: DatasetDownloadOptions['report']
  /** Each published file, once all are in DIR. */
  placed?: (result: DatasetDownloadResult) => void
  /** Called as the clips of a YouTube-based set start: what hears each clip's outcome, stopped when they end. */
  clips?: () => {onClip: NonNullable<YoutubeSetOptions['onClip']>; stop(): void}
}

/**
 * Gets into DIR what indexing DATASET needs: the published files (archives unpacked in the official layout, or a
 * YouTube-based set's metadata unless DIR or --csv has its own), then a YouTube-based set's clips.
 */
export async function downloadForIndex(
  dataset: DatasetName,
  dir: string,
  options: DownloadForIndexOptions = {},
  reporter: DownloadReporter = {},
): Promise<DownloadSummary> {
  if (!isDownloadable(dataset))
    throw new UserError(`${dataset} has nothing to download (${Object.keys(DATASET_FILES).join(', ')} have)`)
  const youtube = dataset === 'audioset' || dataset === 'audiocaps'
  const files =
    youtube && (options.csv !== undefined || detectDataset(dir) === dataset)
      ? []
      : await downloadDataset(dataset, dir, {net: options.net, report: reporter.file})
  for (const file of files) reporter.placed?.(file)
  if (!youtube) return {dataset, dir, files}
  await mkdir(dir, {recursive: true})
  const listener = reporter.clips?.()
  try {
    const clips = await downloadYoutubeSet(dataset, dir, {
      ...options,
      jobs: options.jobs ?? DEFAULT_JOBS,
      onClip: listener?.onClip,
    })
    return {dataset, dir, files, clips}
  } finally {
    listener?.stop()
  }
}

/** A published file as `fetch --download` reports it on stderr. */
export function placedLine(result: DatasetDownloadResult): string {
  return `${result.file} ${result.action === 'downloaded' ? `downloaded (${result.bytes} bytes) and unpacked` : 'already unpacked'}`
}

/** The clips of a YouTube-based set as `fetch --download` reports them on stderr. */
export function clipSummaryLine(s: YoutubeSetSummary): string {
  const parts = [
    `${s.done} downloaded`,
    `${s.present} already on disk`,
    `${s.unavailable} unavailable`,
    `${s.failed} failed`,
  ]
  if (s.left > 0) parts.push(`${s.left} left for a later run (--limit)`)
  const rerun = s.failed > 0 ? '; rerun to retry the failed' : ''
  return `${parts.join(', ')} (log: ${s.log}${rerun})`
}
