import type {ModelDigest} from '../checkpoint/digest.js'
import {esc, facts} from './page.js'

/** The checkpoints behind a report, each file with its full sha256, as the JSON report states them. */
export function modelBlock(model: {audio: ModelDigest | null; text: ModelDigest}): string {
  const digest = (tower: string, d: ModelDigest | null) =>
    d === null
      ? `<li>${tower}: from the input table (checkpoint not on disk)</li>`
      : `<li>${tower}: <code>${esc(d.path)}</code><ul>${d.files.map((f) => `<li><code>${esc(f.name)}</code> sha256 <code class="sha">${f.sha256}</code></li>`).join('')}</ul></li>`
  return `<ul class="models">${digest('audio', model.audio)}${digest('text', model.text)}</ul>`
}

/** The clip counts of a report: nothing evaluated silently on a subset. */
export function clipsBlock(clips: Record<string, number | null>): string {
  return facts(Object.entries(clips).map(([k, v]) => [`clips ${k}`, v]))
}

/** The indices of `scores` from highest to lowest, ties to the lower index (the order argmax and rankOf use). */
export function descending(scores: ArrayLike<number>): number[] {
  return Array.from({length: scores.length}, (_, j) => j).sort((a, b) => scores[b] - scores[a] || a - b)
}
