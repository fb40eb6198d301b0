/**
 * `npm run gpu-check`'s tower sections. Parity: the tiny towers of the committed PyTorch fixtures
 * (test/reference/towers.py) on each GPU path, max abs error against PyTorch's outputs. Throughput: ViT-B/32-size
 * towers (random weights, fixed seed) at batch 1, 8 and 64 on each GPU path and on ONNX Runtime's CPU provider.
 */
import {median} from './median.js'
import {
  openTowers,
  seconds,
  type GpuPath,
  type OpenTowers,
  type TimeBox,
  type Tower,
  type TowerWeights,
  TOWERS,
} from './gpu-paths.js'
import {mulberry32} from '../src/lib/util/rng.js'
import {maxAbsDiff} from '../test/helpers.js'
import {f32, i32, manifest, referenceWeights} from '../test/tower-fixtures.js'

/**
 * GPU float32 sums in another order (and fused multiply-adds) than PyTorch on the CPU: an output may differ from the
 * reference by at most this fraction of the reference's largest absolute value. The CPU engines agree to 1e-4 absolute.
 */
export const PARITY_RELATIVE_TOLERANCE = 1e-3

export interface ParityRow {
  path: string
  case: string
  max_abs_error?: number
  output_scale?: number
  tolerance?: number
  status: 'PASS' | 'FAIL' | 'ERROR' | 'SKIPPED'
  note?: string
}

const firstLine = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0]

export async function parity(paths: GpuPath[], box: TimeBox): Promise<ParityRow[]> {
  const {clip, audio} = await referenceWeights()
  const weights: TowerWeights = {clip, audio: {weights: audio, config: manifest.audio_config}}
  const rows: ParityRow[] = []
  for (const path of paths) {
    const cases = manifest.cases.map((c) => ({c, name: `${c.tower} (${c.input.shape.join(', ')})`}))
    if (!box.fits(1)) {
      rows.push(
        ...cases.map(({name}) => ({
          path: path.name,
          case: name,
          status: 'SKIPPED' as const,
          note: 'section budget spent',
        })),
      )
      continue
    }
    let towers: OpenTowers
    try {
      towers = await openTowers(path, weights)
    } catch (error) {
      rows.push(
        ...cases.map(({name}) => ({path: path.name, case: name, status: 'ERROR' as const, note: firstLine(error)})),
      )
      continue
    }
    for (const {c, name} of cases) {
      if (!box.fits(1)) {
        rows.push({path: path.name, case: name, status: 'SKIPPED', note: 'section budget spent'})
        continue
      }
      try {
        const got = await towers.run(c.tower, c.tower === 'text' ? i32(c.input) : f32(c.input), c.input.shape)
        const reference = f32(c.output)
        const error = maxAbsDiff(got, reference)
        const scale = Math.max(...reference.map(Math.abs))
        const tolerance = PARITY_RELATIVE_TOLERANCE * scale
        rows.push({
          path: path.name,
          case: name,
          max_abs_error: error,
          output_scale: scale,
          tolerance,
          status: error <= tolerance ? 'PASS' : 'FAIL',
        })
      } catch (error) {
        rows.push({path: path.name, case: name, status: 'ERROR', note: firstLine(error)})
      }
    }
    await towers.close()
  }
  return rows
}

export const BATCHES = [1, 8, 64]
const RUNS = 3
const [FRAMES, CONTEXT, RESOLUTION] = [1000, 77, 224]

export interface ThroughputRow {
  path: string
  tower: Tower
  batch: number
  /** The untimed first pass (shader compilation and graph set-up land here). */
  warmup_s?: number
  runs_s: number[]
  median_s?: number
  inputs_per_s?: number
  /** Inputs per second over the CPU reference's, same tower and batch. */
  speedup_over_cpu?: number
  note?: string
}

/** One fixed-seed batch per workload, the same bytes for every engine: uniform log-mels or pixels, or token ids ending in EOT. */
function batchInput(tower: Tower, batch: number, vocab: number): {input: Float32Array | Int32Array; shape: number[]} {
  const rng = mulberry32(1000 * batch + TOWERS.indexOf(tower))
  if (tower === 'text') {
    const ids = Int32Array.from({length: batch * CONTEXT}, () => 1 + Math.floor(rng() * (vocab - 3)))
    for (let b = 0; b < batch; b++) ids[(b + 1) * CONTEXT - 1] = vocab - 1
    return {input: ids, shape: [batch, CONTEXT]}
  }
  const shape = tower === 'audio' ? [batch, FRAMES, 128] : [batch, RESOLUTION, RESOLUTION, 3]
  return {input: Float32Array.from({length: shape.reduce((a, b) => a * b)}, () => 2 * rng() - 1), shape}
}

/**
 * Every workload on the GPU paths, then on the CPU reference. The GPU paths come first, with 70% of the budget; the
 * reference gets what is left, at least 30%, for the speed-ups. Within each, smallest batches first, so that a spent
 * budget cuts the largest. A workload is skipped when the engine's time at the previous batch of the tower, scaled by
 * the batch, predicts it will not fit; timed runs stop early when the next would not. Opening an engine and its first
 * pass (graph building, shader compilation) count against the budget too.
 */
export async function throughput(
  paths: GpuPath[],
  reference: GpuPath,
  weights: TowerWeights,
  vocab: number,
  box: TimeBox,
): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = []
  const inputs = new Map<string, ReturnType<typeof batchInput>>()
  for (const [group, share] of [
    [paths, 0.7],
    [[reference], 1],
  ] as const) {
    const part = box.portion(share)
    const engines: {path: GpuPath; towers?: OpenTowers; error?: string}[] = []
    for (const path of group) {
      try {
        engines.push({path, towers: await openTowers(path, weights)})
      } catch (error) {
        engines.push({path, error: firstLine(error)})
      }
    }
    const last = new Map<string, {batch: number; s: number}>()
    for (const batch of BATCHES) {
      for (const tower of TOWERS) {
        const key = `${tower} ${batch}`
        if (!inputs.has(key)) inputs.set(key, batchInput(tower, batch, vocab))
        const {input, shape} = inputs.get(key)!
        for (const {path, towers, error} of engines) {
          const row: ThroughputRow = {path: path.name, tower, batch, runs_s: []}
          rows.push(row)
          const previous = last.get(`${path.name} ${tower}`)
          const predicted = previous ? (previous.s * batch) / previous.batch : 0
          if (!towers) row.note = error
          else if (previous === undefined && batch > BATCHES[0]) row.note = 'skipped: the smaller batch did not run'
          else if (!part.fits(2 * predicted + 1)) {
            row.note = `skipped: budget spent (${previous ? `predicted ${predicted.toFixed(1)} s a pass, ` : ''}${part.leftS().toFixed(0)} s left)`
          } else
            await measure(row, towers, input, shape, predicted, part, (s) =>
              last.set(`${path.name} ${tower}`, {batch, s}),
            )
        }
      }
    }
    for (const {towers} of engines) await towers?.close()
  }
  for (const r of rows) {
    const cpu = rows.find((c) => c.path === reference.name && c.tower === r.tower && c.batch === r.batch)?.inputs_per_s
    if (r.inputs_per_s && cpu) r.speedup_over_cpu = r.inputs_per_s / cpu
  }
  return rows
}

/** A warm-up pass, then timed ones while they fit; `done` gets the median. */
async function measure(
  row: ThroughputRow,
  towers: OpenTowers,
  input: Float32Array | Int32Array,
  shape: number[],
  predicted: number,
  box: TimeBox,
  done: (s: number) => void,
) {
  try {
    let start = process.hrtime.bigint()
    await towers.run(row.tower, input, shape)
    row.warmup_s = seconds(start)
    for (let r = 0; r < RUNS && box.fits(row.runs_s.at(-1) ?? (predicted || row.warmup_s)); r++) {
      start = process.hrtime.bigint()
      await towers.run(row.tower, input, shape)
      row.runs_s.push(seconds(start))
    }
    if (row.runs_s.length === 0) row.note = 'skipped: budget spent after the warm-up pass'
    else {
      row.median_s = median(row.runs_s)
      row.inputs_per_s = row.batch / row.median_s
      done(row.median_s)
    }
  } catch (error) {
    row.note = `error: ${firstLine(error)}`
  }
}
