/**
 * Training from an index table with log-mels computed on the fly (src/lib/train/mel-feeder.ts) against training from
 * a precomputed `vipant mel` table, as whole `vipant pretrain` processes on a tiny tower (width 64, 1 layer) at
 * 1000 frames, batch 32, taking turns run by run: steps/s (step times from metrics.jsonl, which include waiting for
 * the prefetched batch, the first step left out: nothing overlaps it) and peak RSS (/usr/bin/time -v). The tables
 * repeat the shared ESC-50 clips (5 s each) with seeded stand-in frame embeddings (`image_emb`); the large one has
 * 20 000 rows, so its RSS shows whether memory grows with the table. Also the cost of the features themselves:
 * `vipant mel --workers 1` over the small table, in CPU seconds per second of audio (for docs/audioset-scale.md).
 */
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, rmSync, statSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {columnData, utf8} from '../src/lib/arrow/columns.js'
import {openTableOutput, writeAll} from '../src/lib/arrow/output.js'
import {sourceBatch, sourceSchema} from '../src/lib/arrow/stage.js'
import {tensorData, tensorField} from '../src/lib/arrow/tensor.js'
import {mulberry32} from '../src/lib/util/rng.js'
import type {Benchmark, Measurement} from './run.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const ESC50 = path.join(repoRoot, '..', 'shared', 'data', 'esc50', 'audio')
const VIPANT = path.join(repoRoot, 'bin', 'vipant.js')
const [SMALL, LARGE, BATCH, STEPS, RUNS, EMBED] = [96, 20_000, 16, 6, 2, 32]
const TRAIN = [
  '--model',
  'tiny',
  '--batch-size',
  String(BATCH),
  '--steps',
  String(STEPS),
  '--optimizer',
  'adam',
  '--lr',
  '1e-3',
  '--warmup-epochs',
  '0',
]

/** An index table (vipant fetch's columns) of `rows` rows cycling through the clips, with frame embeddings. */
async function indexTable(file: string, clips: string[], rows: number): Promise<void> {
  const emb = tensorField('image_emb', [-1, EMBED])
  const schema = sourceSchema([utf8('id'), utf8('path'), emb], {command: 'fetch', version: '0', params: {}})
  const rng = mulberry32(16)
  const batches = async function* () {
    for (let start = 0; start < rows; start += 1000) {
      const ids = Array.from({length: Math.min(1000, rows - start)}, (_, k) => start + k)
      yield sourceBatch(schema, [
        columnData(
          schema.fields[0],
          ids.map((i) => `clip${i}`),
        ),
        columnData(
          schema.fields[1],
          ids.map((i) => clips[i % clips.length]),
        ),
        tensorData(
          emb as never,
          ids.map(() => Float32Array.from({length: EMBED}, () => rng() - 0.5)),
        ),
      ])
    }
  }
  await writeAll(openTableOutput(schema, file), batches())
}

/** Runs vipant under /usr/bin/time -v: wall seconds, CPU seconds (user + system, all threads) and peak RSS in MB. */
function timed(args: string[]): {wallS: number; cpuS: number; rssMB: number} {
  const start = process.hrtime.bigint()
  const r = spawnSync('/usr/bin/time', ['-v', process.execPath, VIPANT, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  })
  const wallS = Number(process.hrtime.bigint() - start) / 1e9
  if (r.status !== 0) throw new Error(`vipant ${args.join(' ')} failed:\n${r.stderr}`)
  const field = (name: string) => Number(new RegExp(`${name}: ([\\d.]+)`).exec(r.stderr)?.[1] ?? Number.NaN)
  return {
    wallS,
    cpuS: field('User time \\(seconds\\)') + field('System time \\(seconds\\)'),
    rssMB: field('Maximum resident set size \\(kbytes\\)') / 1024,
  }
}

/** Seconds of each step after the first, from the run's metrics.jsonl. */
function stepSeconds(run: string): number[] {
  const times = readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((l) => !l.eval)
    .map((l) => l.time as number)
  return times.slice(1).map((t, k) => t - times[k])
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length

export const onthefly: Benchmark = {
  name: 'onthefly',
  description: `pretrain from an index table (log-mels on the fly) vs a precomputed mel table: tiny tower, 1000 frames, batch ${BATCH}`,
  async run() {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-bench-onthefly-'))
    try {
      const clips = readdirSync(ESC50)
        .filter((f) => f.endsWith('.wav'))
        .sort()
        .map((f) => path.join(ESC50, f))
      const [small, large, mel, mel16] = ['small.arrow', 'large.arrow', 'mel.arrow', 'mel16.arrow'].map((f) =>
        path.join(dir, f),
      )
      await indexTable(small, clips, SMALL)
      await indexTable(large, clips, LARGE)
      const features = timed(['mel', small, '--workers', '1', '-o', mel])
      timed(['mel', small, '--workers', '1', '--dtype', 'float16', '-o', mel16])
      const audioS = SMALL * 5
      const contenders = [
        {name: `on the fly, index of ${SMALL} rows`, table: small},
        {name: `on the fly, index of ${LARGE} rows`, table: large},
        {name: `precomputed mel table of ${SMALL} rows`, table: mel},
      ]
      const steps = new Map<string, number[]>(contenders.map((c) => [c.name, []]))
      const rss = new Map<string, number[]>(contenders.map((c) => [c.name, []]))
      const wall = new Map<string, number[]>(contenders.map((c) => [c.name, []]))
      const cpu = new Map<string, number[]>(contenders.map((c) => [c.name, []]))
      for (let run = 0; run < RUNS; run++) {
        for (const c of contenders) {
          const out = path.join(dir, `run-${run}-${contenders.indexOf(c)}`)
          const t = timed(['pretrain', c.table, '-o', out, ...TRAIN])
          steps.get(c.name)!.push(mean(stepSeconds(out)))
          rss.get(c.name)!.push(t.rssMB)
          wall.get(c.name)!.push(t.wallS)
          cpu.get(c.name)!.push(t.cpuS)
          rmSync(out, {recursive: true, force: true})
        }
      }
      const measurements: Measurement[] = contenders.map((c) => ({name: c.name, runsS: steps.get(c.name)!, work: 1}))
      return {
        unit: 'steps/s',
        workload: `${STEPS} steps of vipant pretrain --model tiny --batch-size ${BATCH} (1000 frames), ${RUNS} runs each, taking turns; ESC-50's ${clips.length} clips repeated`,
        measurements,
        unavailable: [],
        details: {
          peakRssMB: Object.fromEntries(rss),
          processWallS: Object.fromEntries(wall),
          processCpuS: Object.fromEntries(cpu),
          melWorkers1: {
            clips: SMALL,
            audioS,
            wallS: features.wallS,
            cpuS: features.cpuS,
            cpuSPerAudioS: features.cpuS / audioS,
            peakRssMB: features.rssMB,
          },
          bytesPerRow: {float32: statSync(mel).size / SMALL, float16: statSync(mel16).size / SMALL},
        },
      }
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  },
}
