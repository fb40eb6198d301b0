/**
 * Zero-shot classification as VIP-ANT evaluated it (docs/method.md §8.1, `ESCMonitor.standard_zero_shot` and
 * `ClassificationHead.report`): each clip's scores are its audio embedding's dot product with every
 * class's text embedding, the prediction is the argmax, and accuracy is pooled over all clips.
 */

/** The original's default prompt (docs/method.md §2.6). */
export const DEFAULT_PROMPT = 'the sound of '

/**
 * The text of one class under one template. A template holding `{}` has the name put in its place;
 * any other template is a prefix, which, like the original, is stripped and followed by one space
 * (an empty prefix leaves the bare name). Class names read `_` as a space: `chirping_birds` is
 * "chirping birds".
 */
export function classText(template: string, name: string): string {
  const spoken = name.replaceAll('_', ' ')
  if (template.includes('{}')) return template.replaceAll('{}', spoken)
  const prefix = template.trim()
  return prefix === '' ? spoken : `${prefix} ${spoken}`
}

/**
 * One vector per class from the embeddings of its texts under each template (`perTemplate[t][c]`).
 * Raw scoring averages the raw embeddings (with one template this is the original exactly); cosine
 * scoring averages unit vectors, CLIP's prompt ensembling, and is normalised again when scored.
 */
export function classEmbeddings(perTemplate: readonly (readonly Float32Array[])[], cosine: boolean): Float64Array[] {
  const classes = perTemplate[0].length
  return Array.from({length: classes}, (_, c) => {
    const mean = new Float64Array(perTemplate[0][c].length)
    for (const template of perTemplate) {
      const v = template[c]
      const scale = cosine ? 1 / norm(v) : 1
      for (let k = 0; k < v.length; k++) mean[k] += (v[k] * scale) / perTemplate.length
    }
    return mean
  })
}

/** Each clip's score for each class: a raw dot product, or with --cosine the cosine similarity. */
export function scoreClips(
  audio: readonly Float32Array[],
  classes: readonly Float64Array[],
  cosine: boolean,
): Float64Array[] {
  const classNorms = classes.map((t) => (cosine ? norm(t) : 1))
  return audio.map((a) => {
    const audioNorm = cosine ? norm(a) : 1
    return Float64Array.from(classes, (t, c) => {
      let dot = 0
      for (let k = 0; k < a.length; k++) dot += a[k] * t[k]
      return dot / (audioNorm * classNorms[c])
    })
  })
}

/** The index of the highest score; on a tie the lowest index, as torch.argmax and numpy.argmax do. */
export function argmax(scores: ArrayLike<number>): number {
  let best = 0
  for (let j = 1; j < scores.length; j++) if (scores[j] > scores[best]) best = j
  return best
}

/**
 * 0-based position of class `label` when the classes are sorted by descending score, ties broken by
 * the lower index first (consistent with argmax: rank 0 is the prediction).
 */
export function rankOf(scores: ArrayLike<number>, label: number): number {
  let rank = 0
  for (let j = 0; j < scores.length; j++) {
    if (scores[j] > scores[label] || (scores[j] === scores[label] && j < label)) rank++
  }
  return rank
}

export interface ClassificationMetrics {
  clips: number
  /** Pooled over every clip, the paper's number: not a mean of per-fold accuracies. */
  accuracy: number
  top5: number
  /** Per fold present, ascending; clips without a fold are pooled only. */
  folds: {fold: number; clips: number; accuracy: number}[]
  /** Per class index; accuracy is null for a class with no clips. */
  classes: {label: number; clips: number; accuracy: number | null}[]
  /** confusion[true label][predicted label], clip counts. */
  confusion: number[][]
}

export interface ScoredClip {
  label: number
  fold: number | null
  scores: ArrayLike<number>
}

export function classificationMetrics(clips: readonly ScoredClip[], classCount: number): ClassificationMetrics {
  const confusion = Array.from({length: classCount}, () => new Array<number>(classCount).fill(0))
  const byFold = new Map<number, {clips: number; correct: number}>()
  let correct = 0
  let top5 = 0
  for (const clip of clips) {
    const predicted = argmax(clip.scores)
    const hit = predicted === clip.label ? 1 : 0
    confusion[clip.label][predicted]++
    correct += hit
    top5 += rankOf(clip.scores, clip.label) < 5 ? 1 : 0
    if (clip.fold !== null) {
      const fold = byFold.get(clip.fold) ?? {clips: 0, correct: 0}
      fold.clips++
      fold.correct += hit
      byFold.set(clip.fold, fold)
    }
  }
  const ratio = (n: number, d: number) => (d === 0 ? 0 : n / d)
  return {
    clips: clips.length,
    accuracy: ratio(correct, clips.length),
    top5: ratio(top5, clips.length),
    folds: [...byFold]
      .sort(([a], [b]) => a - b)
      .map(([fold, f]) => ({fold, clips: f.clips, accuracy: f.correct / f.clips})),
    classes: confusion.map((row, label) => {
      const n = row.reduce((a, b) => a + b, 0)
      return {label, clips: n, accuracy: n === 0 ? null : row[label] / n}
    }),
    confusion,
  }
}

function norm(v: ArrayLike<number>): number {
  let s = 0
  for (let k = 0; k < v.length; k++) s += v[k] * v[k]
  return Math.sqrt(s)
}
