import {appendFileSync, readFileSync} from 'node:fs'
import path from 'node:path'
import type {IndexRow} from '../index-row.js'

/** What became of a clip that could not be had; a clip on disk needs no entry. */
export interface ClipOutcome {
  id: string
  /** unavailable: the video is gone (private, removed, blocked), rerunning will not help; failed: it may. */
  status: 'unavailable' | 'failed'
  reason: string
}

/**
 * The download log of a YouTube-based dataset: `DIR/download-log.jsonl`, one JSON line per clip that did
 * not download, appended as it happens (an interrupted run keeps what it learnt). The last line for an id
 * is its state.
 */
export class ClipLog {
  readonly file: string
  private readonly latest = new Map<string, ClipOutcome>()

  constructor(dir: string) {
    this.file = path.join(dir, 'download-log.jsonl')
    let text: string
    try {
      text = readFileSync(this.file, 'utf8')
    } catch {
      return
    }
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue
      try {
        const entry = JSON.parse(line) as ClipOutcome
        this.latest.set(entry.id, entry)
      } catch {
        // A line cut short by a crash says nothing; the clip is simply tried again.
      }
    }
  }

  get(id: string): ClipOutcome | undefined {
    return this.latest.get(id)
  }

  record(outcome: ClipOutcome): void {
    this.latest.set(outcome.id, outcome)
    appendFileSync(this.file, `${JSON.stringify({...outcome, time: new Date().toISOString()})}\n`)
  }
}

/**
 * Rows of a YouTube-based dataset with what the download log of DIR knows: a clip found gone becomes status
 * "unavailable", and a clip not on disk gets the reason its download failed.
 */
export async function* withDownloadOutcomes(rows: AsyncIterable<IndexRow>, dir: string): AsyncGenerator<IndexRow> {
  const log = new ClipLog(dir)
  for await (const row of rows) {
    const known = row.status === 'missing' ? log.get(row.id) : undefined
    yield known
      ? {...row, status: known.status === 'unavailable' ? 'unavailable' : row.status, reason: known.reason}
      : row
  }
}
