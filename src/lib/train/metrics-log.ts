import {readFile, stat} from 'node:fs/promises'
import path from 'node:path'
import {UserError} from '../util/errors.js'

/**
 * A training run's `metrics.jsonl`, one JSON object a line: a train step
 * {step, epoch, loss, lr, logit_scale, grad_norm, clips_per_s, time} or an evaluation
 * {step, eval: {name: value}}, read back as one curve (step, value) per quantity.
 */
export const METRICS_FILE = 'metrics.jsonl'

/** The train-step fields drawn as curves; the rest (epoch, time, throughput) are context. */
export const TRAIN_SERIES = ['loss', 'lr', 'logit_scale', 'grad_norm'] as const

export interface Point {
  step: number
  value: number
}

export interface Series {
  /** A train field (`loss`), or an evaluation metric as the trainer named it (`a2i_top1`, `R@1`). */
  name: string
  kind: 'train' | 'eval'
  /** Ascending by step, one point per step. */
  points: Point[]
}

export interface MetricsLog {
  file: string
  series: Series[]
  /** Train-step records kept, and the last one's epoch and throughput. */
  trainSteps: number
  lastEpoch: number | null
  lastClipsPerS: number | null
  /** Lines that could not be read: a run killed mid-write leaves its last line cut short. */
  skipped: {line: number; why: string}[]
}

/** Reads RUN_DIR/metrics.jsonl (or a metrics file named directly). */
export async function readMetricsLog(run: string): Promise<MetricsLog> {
  const info = await stat(run).catch(() => {
    throw new UserError(`${run}: no such run directory`)
  })
  const file = info.isDirectory() ? path.join(run, METRICS_FILE) : run
  const text = await readFile(file, 'utf8').catch(() => {
    throw new UserError(`${file}: no metrics file (is ${run} a vipant pretrain/finetune run directory?)`)
  })
  return parseMetricsLog(text, file)
}

/**
 * A resumed run logs again from its checkpoint's step, so a train record for a step already logged drops
 * every point (train and evaluation) from that step on, and an evaluation replaces its metric's points
 * from its step on: the curves show the history that led to the final weights.
 */
export function parseMetricsLog(text: string, file: string): MetricsLog {
  const curves = new Map<string, Series>()
  const skipped: MetricsLog['skipped'] = []
  let trainSteps: number[] = []
  let lastEpoch: number | null = null
  let lastClipsPerS: number | null = null
  const add = (name: string, kind: Series['kind'], step: number, value: unknown) => {
    if (typeof value !== 'number' || !Number.isFinite(value)) return
    const key = `${kind}:${name}`
    const series = curves.get(key) ?? {name, kind, points: []}
    curves.set(key, series)
    if (series.points.length > 0 && series.points[series.points.length - 1].step >= step)
      series.points = series.points.filter((p) => p.step < step)
    series.points.push({step, value})
  }

  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') return
    let record: Record<string, unknown>
    try {
      record = JSON.parse(raw) as Record<string, unknown>
    } catch {
      skipped.push({line: i + 1, why: 'not valid JSON (cut short?)'})
      return
    }
    const step = record?.step
    if (typeof step !== 'number' || !Number.isFinite(step)) {
      skipped.push({line: i + 1, why: 'no numeric "step"'})
      return
    }
    const evals = record.eval
    if (evals !== undefined && evals !== null && typeof evals === 'object') {
      for (const [name, value] of Object.entries(evals)) add(name, 'eval', step, value)
      return
    }
    if (trainSteps.length > 0 && trainSteps[trainSteps.length - 1] >= step) {
      trainSteps = trainSteps.filter((s) => s < step)
      for (const series of curves.values()) series.points = series.points.filter((p) => p.step < step)
    }
    trainSteps.push(step)
    for (const name of TRAIN_SERIES) add(name, 'train', step, record[name])
    if (typeof record.epoch === 'number') lastEpoch = record.epoch
    if (typeof record.clips_per_s === 'number') lastClipsPerS = record.clips_per_s
  })
  const order = (s: Series) =>
    s.kind === 'train' ? TRAIN_SERIES.indexOf(s.name as (typeof TRAIN_SERIES)[number]) : TRAIN_SERIES.length
  // Train curves in their fixed order, then evaluation metrics in the order they first appeared.
  const series = [...curves.values()].filter((s) => s.points.length > 0).sort((a, b) => order(a) - order(b))
  return {file, series, trainSteps: trainSteps.length, lastEpoch, lastClipsPerS, skipped}
}

/** Whether a smaller value is the better one: losses, ranks and errors; every other metric is "higher is better". */
export function lowerIsBetter(series: Series): boolean {
  return /loss|rank|err/i.test(series.name)
}

export interface SeriesSummary {
  name: string
  kind: Series['kind']
  points: number
  last: Point
  /** The best value (the first step reaching it), for loss and evaluation metrics; null for lr, logit scale, grad norm. */
  best: Point | null
  better: 'min' | 'max' | null
}

export interface RunSummary {
  metrics: string
  trainSteps: number
  firstStep: number | null
  lastStep: number | null
  epoch: number | null
  clipsPerS: number | null
  evaluations: number
  skipped: MetricsLog['skipped']
  series: SeriesSummary[]
}

export function summarizeRun(log: MetricsLog): RunSummary {
  const steps = log.series.flatMap((s) => s.points.map((p) => p.step))
  const evalSteps = new Set(log.series.filter((s) => s.kind === 'eval').flatMap((s) => s.points.map((p) => p.step)))
  return {
    metrics: log.file,
    trainSteps: log.trainSteps,
    firstStep: steps.length > 0 ? Math.min(...steps) : null,
    lastStep: steps.length > 0 ? Math.max(...steps) : null,
    epoch: log.lastEpoch,
    clipsPerS: log.lastClipsPerS,
    evaluations: evalSteps.size,
    skipped: log.skipped,
    series: log.series.map((s) => {
      const ranked = s.kind === 'eval' || s.name === 'loss'
      const min = lowerIsBetter(s)
      const best = ranked ? s.points.reduce((b, p) => ((min ? p.value < b.value : p.value > b.value) ? p : b)) : null
      return {
        name: s.name,
        kind: s.kind,
        points: s.points.length,
        last: s.points[s.points.length - 1],
        best,
        better: ranked ? (min ? 'min' : 'max') : null,
      }
    }),
  }
}
