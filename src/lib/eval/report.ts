import {existsSync} from 'node:fs'
import type {TableInput} from '../arrow/input.js'
import {stageOf} from '../arrow/provenance.js'
import {modelDigest, type ModelDigest} from '../checkpoint/digest.js'
import type {TowerName} from '../towers/towers.js'
import type {ClassificationMetrics} from './classification.js'
import {plural} from '../util/plural.js'

/**
 * A zero-shot report: the numbers together with everything needed to reproduce them, because
 * "which prompt, which checkpoint, which folds" is what makes a number comparable to the paper's.
 */
export interface ZeroShotReport {
  task: 'zeroshot'
  vipant: string
  protocol: {
    dataset: string
    source: string
    /** The templates (§2.6 prompt semantics, or `{}` placeholders), averaged per class when several. */
    prompts: string[]
    scoring: 'dot' | 'cosine'
    /** Whether the audio embeddings scored were L2-normalised (the original: not). */
    audio_normalized: boolean
    max_len: number | null
    pooled: true
  }
  model: {audio: ModelDigest | null; text: ModelDigest}
  backend: string
  /** `unlabelled`: clips with neither a label nor a class, predicted but left out of every metric. */
  clips: {listed: number | null; evaluated: number; missing: number | null; failed: number; unlabelled: number}
  folds: {present: number[]; listed: number[] | null}
  /** Over the labelled clips; null when no clip has a label (a classifier for one's own sounds). */
  accuracy: number | null
  top5: number | null
  per_fold: ClassificationMetrics['folds']
  per_class: {label: number; name: string; clips: number; accuracy: number | null}[]
  /** matrix[true label][predicted]; null without labelled clips. */
  confusion: {classes: string[]; matrix: number[][] | null}
  /** Each unlabelled clip's predicted class and its score. */
  unlabelled: {id: string; predicted: string; score: number}[]
}

/** How many of the listed clips a report covers, in parts of a line: never silently a subset. */
export function clipsCoverage(clips: Omit<ZeroShotReport['clips'], 'unlabelled'>): string[] {
  const {listed, evaluated, missing, failed} = clips
  const parts = [
    listed === null
      ? `evaluated ${plural(evaluated, 'clip')}`
      : `evaluated ${evaluated} of ${plural(listed, 'listed clip')}`,
  ]
  if (missing) parts.push(`${missing} not on disk`)
  if (failed) parts.push(`${failed} failed to decode`)
  return parts
}

/** One line on how much of the dataset was evaluated. */
export function coverageLine(report: ZeroShotReport): string {
  const parts = clipsCoverage(report.clips)
  if (report.clips.unlabelled) parts.push(`${report.clips.unlabelled} without a label (predicted, not scored)`)
  const folds =
    report.folds.present.length > 0
      ? ` (fold${report.folds.present.length > 1 ? 's' : ''} ${report.folds.present.join(', ')})`
      : ''
  return `${parts.join('; ')}${folds}`
}

export function renderJson(report: ZeroShotReport): string {
  return `${JSON.stringify(report, null, 2)}\n`
}

/** The report as aligned text for a terminal. The confusion matrix only fits for a few classes. */
export function renderText(report: ZeroShotReport): string {
  const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(2)}%`)
  const {protocol: p} = report
  const lines = [
    `zero-shot ${p.dataset} (${p.source})`,
    `  ${coverageLine(report)}`,
    `  prompt${p.prompts.length > 1 ? 's' : ''}: ${p.prompts.map((t) => JSON.stringify(t)).join(', ')}`,
    `  scoring: ${p.scoring === 'dot' ? 'raw dot product (as the original)' : 'cosine'}, pooled over all clips, max_len ${p.max_len ?? '?'}`,
    `  audio: ${digestLine(report.model.audio)}`,
    `  text:  ${digestLine(report.model.text)}`,
    `  ${report.backend}`,
    '',
  ]
  if (report.accuracy !== null) lines.push(`accuracy ${pct(report.accuracy)}   top-5 ${pct(report.top5)}`)
  if (report.per_fold.length > 0) {
    lines.push(
      '',
      ...table(
        ['fold', 'clips', 'accuracy'],
        report.per_fold.map((f) => [String(f.fold), String(f.clips), pct(f.accuracy)]),
      ),
    )
  }
  if (report.per_class.length > 0) {
    lines.push(
      '',
      ...table(
        ['label', 'class', 'clips', 'accuracy'],
        report.per_class.map((c) => [String(c.label), c.name, String(c.clips), pct(c.accuracy)]),
      ),
    )
  }
  const {classes, matrix} = report.confusion
  if (matrix && classes.length <= MAX_CONFUSION_CLASSES) {
    lines.push('', 'confusion (rows: true label, columns: predicted)')
    lines.push(
      ...table(
        ['', ...classes.map((_, j) => String(j))],
        matrix.map((row, i) => [`${i} ${classes[i]}`, ...row.map(String)]),
      ),
    )
  } else if (matrix) {
    lines.push('', `confusion matrix (${classes.length} classes): see --json`)
  }
  if (report.unlabelled.length > 0) {
    const shown = report.unlabelled.slice(0, MAX_PREDICTION_ROWS)
    lines.push('', 'predictions (clips without a label)')
    lines.push(
      ...table(
        ['id', 'predicted', 'score'],
        shown.map((p) => [p.id, p.predicted, p.score.toFixed(4)]),
      ),
    )
    const rest = report.unlabelled.length - shown.length
    if (rest > 0) lines.push(`... and ${rest} more: see --json or --predictions`)
  }
  return `${lines.join('\n')}\n`
}

const MAX_CONFUSION_CLASSES = 20
const MAX_PREDICTION_ROWS = 50

export function digestLine(digest: ModelDigest | null): string {
  if (digest === null) return 'from the input table'
  return `${digest.path} (${digest.files.map((f) => `${f.name} sha256 ${f.sha256.slice(0, 12)}`).join(', ')})`
}

/** Columns padded to their widest cell; text left-aligned, numbers right-aligned. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)))
  const numeric = header.map((_, j) => rows.every((r) => /^[\d.%-]*$/.test(r[j])))
  const line = (cells: string[]) =>
    cells
      .map((cell, j) => (numeric[j] ? cell.padStart(widths[j]) : cell.padEnd(widths[j])))
      .join('  ')
      .trimEnd()
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)]
}

/**
 * The checkpoints behind an evaluation, hashed: the text tower's, and the audio tower's — loaded in this
 * run, or named by the table's embed stage, and hashed only where that file still is.
 */
export async function evaluatedModels(
  scored: TableInput,
  sources: Partial<Record<TowerName, string>>,
): Promise<{audio: ModelDigest | null; text: ModelDigest}> {
  const recorded = stageOf(scored.schema, 'audio_emb')?.params.models as {audio?: string} | undefined
  const audio = sources.audio ?? recorded?.audio
  return {audio: audio && existsSync(audio) ? await modelDigest(audio) : null, text: await modelDigest(sources.text!)}
}
