import {rankOf} from './classification.js'
import {UserError} from '../util/errors.js'
import {plural} from '../util/plural.js'

/**
 * Audio-text retrieval as VIP-ANT evaluated it (docs/method.md §8.2, `LossHead.retrieval_eval`): N clips, their
 * 5N captions flattened in clip order (clip i owns captions 5i..5i+4), both L2-normalised, similarity
 * the dot product. Positions are 0-based in descending similarity, ties ranked by the lower index first.
 */
export const CAPTIONS_PER_CLIP = 5

export interface DirectionMetrics {
  queries: number
  /** Percentages, as the paper prints them. */
  r1: number
  r5: number
  r10: number
  r50: number
  /** Of rank + 1; for an even count the lower of the two middle values, as `torch.median` (the original's rule). */
  median_rank: number
  mean_rank: number
  /** Mean over queries of AP@10 against all of a query's relevant items (5 captions; 1 clip). */
  map10: number
}

/** Refuses anything but exactly 5 captions per clip, naming the clips that differ. */
export function checkFiveCaptions(clips: readonly {id: string; captions: number}[], source: string): void {
  const wrong = clips.filter((c) => c.captions !== CAPTIONS_PER_CLIP)
  if (wrong.length > 0) {
    const named = wrong
      .slice(0, 5)
      .map((c) => `${c.id} (${c.captions})`)
      .join(', ')
    throw new UserError(
      `${source}: retrieval needs exactly ${CAPTIONS_PER_CLIP} captions per clip; ${plural(wrong.length, 'clip differs', 'clips differ')}: ${named}${wrong.length > 5 ? ', ...' : ''}`,
    )
  }
}

/** sim[i][q]: clip i against caption q, both vectors L2-normalised. */
export function similarity(audio: readonly Float32Array[], text: readonly Float32Array[]): Float64Array[] {
  const unit = (v: Float32Array) => {
    const n = Math.hypot(...v)
    return Float64Array.from(v, (x) => x / n)
  }
  const t = text.map(unit)
  return audio.map((a) => {
    const u = unit(a)
    return Float64Array.from(t, (tq) => tq.reduce((s, x, k) => s + x * u[k], 0))
  })
}

/** Both directions over an N x 5N similarity matrix. */
export function retrievalMetrics(sim: readonly Float64Array[]): {
  audioToText: DirectionMetrics
  textToAudio: DirectionMetrics
} {
  const n = sim.length
  const audioToText = sim.map((row, i) =>
    Array.from({length: CAPTIONS_PER_CLIP}, (_, k) => rankOf(row, CAPTIONS_PER_CLIP * i + k)),
  )
  const textToAudio = Array.from({length: n * CAPTIONS_PER_CLIP}, (_, q) => {
    const column = Float64Array.from(sim, (row) => row[q])
    return [rankOf(column, Math.floor(q / CAPTIONS_PER_CLIP))]
  })
  return {audioToText: direction(audioToText), textToAudio: direction(textToAudio)}
}

/** Metrics from each query's positions of its relevant items; a query's rank is its best (best-of-5 for A->T). */
function direction(relevant: number[][]): DirectionMetrics {
  const ranks = relevant.map((ps) => Math.min(...ps))
  const recall = (k: number) => (100 * ranks.filter((r) => r < k).length) / ranks.length
  const sorted = ranks.map((r) => r + 1).sort((a, b) => a - b)
  // torch.median, which VIP-ANT's retrieval_metrics calls, takes the lower middle value rather than averaging the two.
  const median = sorted[(sorted.length - 1) >> 1]
  const ap10 = (ps: number[]) => {
    const hits = ps.filter((p) => p < 10).sort((a, b) => a - b)
    return hits.reduce((s, p, h) => s + (h + 1) / (p + 1), 0) / Math.min(ps.length, 10)
  }
  return {
    queries: ranks.length,
    r1: recall(1),
    r5: recall(5),
    r10: recall(10),
    r50: recall(50),
    median_rank: median,
    mean_rank: sorted.reduce((a, b) => a + b, 0) / sorted.length,
    map10: relevant.reduce((s, ps) => s + ap10(ps), 0) / relevant.length,
  }
}
