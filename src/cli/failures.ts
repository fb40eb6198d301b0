import type {ClipEvent} from '../lib/data/mel-stage.js'
import {plural} from '../lib/util/plural.js'

/** How many failed clips a summary names; the rest are counted (every one is a row with its reason). */
const NAMED = 3

/**
 * The clips that could not be decoded, for a run's summary: a count alone ("1 error") does not say which
 * file or why, so the first few are named with their reason.
 */
export class Failures {
  count = 0
  private readonly named: string[] = []

  note(event: ClipEvent): void {
    if (event.status !== 'error') return
    this.count++
    if (this.named.length >= NAMED) return
    const file = event.path ?? event.id
    const reason = event.error ?? 'unknown error'
    this.named.push(reason.includes(file) ? reason : `${file}: ${reason}`)
  }

  /** One line, "mel: 2 clips failed: a.wav: ...; b.wav: ...", or undefined when none failed. */
  line(command: string): string | undefined {
    if (this.count === 0) return undefined
    const more = this.count > this.named.length ? `; and ${this.count - this.named.length} more` : ''
    return `${command}: ${plural(this.count, 'clip')} failed: ${this.named.join('; ')}${more}`
  }
}
