import {rmdir} from 'node:fs/promises'
import path from 'node:path'
import {netConfig, youtubeUrl, type NetConfig} from '../../net/config.js'
import {orderedMap} from '../../util/worker-pool.js'
import type {IndexRow, IngestOptions} from '../index-row.js'
import {ingest} from '../ingest.js'
import {inShard, type Shard} from '../../arrow/shard.js'
import {ClipLog} from './clip-log.js'
import {requireYoutubeTools} from './tools.js'
import {fetchClip, SCRATCH, type ClipJob, type ClipResult} from './youtube-clip.js'

/** A download-layout chunk holds this many clips of one split, as the original crawl's did (docs/method.md §2.1). */
const CHUNK = 35_000

export interface YoutubeSetOptions extends Pick<IngestOptions, 'split' | 'csv' | 'audioDir'> {
  /** At most this many clips are attempted (those already done or known gone do not count). */
  limit?: number
  jobs: number
  /** Try again the clips an earlier run found unavailable. */
  retryUnavailable?: boolean
  /** Only the clips of this shard (a job-array task's share). */
  shard?: Shard
  net?: NetConfig
  onClip?: (id: string, outcome: ClipOutcomeKind, reason?: string) => void
}

export type ClipOutcomeKind = 'done' | 'unavailable' | 'failed' | 'present' | 'known unavailable'

export interface YoutubeSetSummary {
  /** Downloaded by this run. */
  done: number
  /** On disk before this run. */
  present: number
  /** Gone: found by this run or an earlier one (see the log). */
  unavailable: number
  failed: number
  /** Listed but left for later by --limit. */
  left: number
  log: string
}

/** The YouTube id of a row: audiocaps names a second clip of one video `ytid_start`. */
function youtubeId(row: IndexRow): string {
  const suffix = `_${row.start}`
  return row.dataset === 'audiocaps' && row.id.endsWith(suffix) ? row.id.slice(0, -suffix.length) : row.id
}

/**
 * Where a missing clip goes: where the metadata says (VIP-ANT's src_*.csv name a chunk), else chunk
 * `<split>_<from>_<to>` of ROOT by the clip's position in its split, so reruns agree.
 */
function placeOf(row: IndexRow, ordinal: number, root: string): Pick<ClipJob, 'root' | 'chunk'> {
  const aclip = path.dirname(row.path ?? '')
  if (path.basename(aclip) === 'aclip')
    return {root: path.dirname(path.dirname(aclip)), chunk: path.basename(path.dirname(aclip))}
  const from = Math.floor(ordinal / CHUNK) * CHUNK
  return {root, chunk: `${row.split ?? 'clips'}_${from}_${from + CHUNK}`}
}

/**
 * Downloads the clips of an AudioSet or AudioCaps index that are not on disk: `jobs` at a time, each
 * clip's outcome logged as it happens; clips on disk, and clips an earlier run found gone, are skipped.
 */
export async function downloadYoutubeSet(
  dataset: 'audioset' | 'audiocaps',
  dir: string,
  options: YoutubeSetOptions,
): Promise<YoutubeSetSummary> {
  const {ytdlp} = await requireYoutubeTools()
  const net = options.net ?? netConfig()
  const log = new ClipLog(dir)
  const root = options.audioDir ?? dir
  const summary: YoutubeSetSummary = {done: 0, present: 0, unavailable: 0, failed: 0, left: 0, log: log.file}
  const ordinals = new Map<string, number>()
  const limit = options.limit ?? Number.POSITIVE_INFINITY
  let attempted = 0
  const report = (id: string, outcome: ClipOutcomeKind, reason?: string) => options.onClip?.(id, outcome, reason)

  async function* jobs(): AsyncGenerator<ClipJob> {
    for await (const row of ingest(dataset, dir, {
      split: options.split,
      csv: options.csv,
      audioDir: options.audioDir,
    })) {
      const ordinal = ordinals.get(row.split ?? '') ?? 0
      ordinals.set(row.split ?? '', ordinal + 1)
      if (options.shard && !inShard(row.id, options.shard)) continue
      if (row.status === 'ok') {
        summary.present++
        report(row.id, 'present')
        continue
      }
      const known = log.get(row.id)
      if (known?.status === 'unavailable' && !options.retryUnavailable) {
        summary.unavailable++
        report(row.id, 'known unavailable', known.reason)
        continue
      }
      if (attempted >= limit) {
        summary.left++
        continue
      }
      attempted++
      yield {
        id: row.id,
        url: youtubeUrl(youtubeId(row), net),
        start: row.start ?? 0,
        end: row.end ?? row.start ?? 0,
        ...placeOf(row, ordinal, root),
      }
    }
  }

  const tools = {ytdlp, timeoutS: Math.max(1, Math.round(net.timeoutMs / 1000)), retries: net.retries}
  const results = orderedMap(jobs(), Math.max(1, options.jobs), async (job): Promise<[ClipJob, ClipResult]> => [
    job,
    await fetchClip(job, tools),
  ])
  for await (const [job, result] of results) {
    if (result.status === 'done') {
      summary.done++
      report(job.id, 'done')
    } else {
      summary[result.status]++
      log.record({id: job.id, status: result.status, reason: result.reason})
      report(job.id, result.status, result.reason)
    }
  }
  // The scratch folder goes once empty (not while another run is using it).
  await rmdir(path.join(root, SCRATCH)).catch(() => {})
  return summary
}
