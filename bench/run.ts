/**
 * `npm run bench [-- NAME...]`: runs the named benchmarks (all without a name), prints a table for each and writes
 * bench/results/NAME.json. A benchmark is a module exporting a `Benchmark`; add it to BENCHMARKS to register it.
 */
import {mkdirSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {gemm} from './gemm.js'
import {html} from './html.js'
import {median} from './median.js'
import {mel} from './mel.js'
import {onthefly} from './onthefly.js'
import {towers} from './towers.js'
import {train} from './train.js'
import {videoframes} from './videoframes.js'
import {zeroshot} from './zeroshot.js'

/** One contender timed on the benchmark's workload. */
export interface Measurement {
  name: string
  /** Wall-clock seconds of each timed pass over the workload (warm-up excluded). */
  runsS: number[]
  /** Work done by one pass, in the benchmark's unit (e.g. seconds of audio). */
  work: number
}

export interface BenchResult {
  /** What `work` counts per second, e.g. "audio s/s". */
  unit: string
  /** The workload in words, printed above the table. */
  workload: string
  /** The last one is the reference the others are compared with. */
  measurements: Measurement[]
  /** Contenders that could not run here, with the reason. */
  unavailable: {name: string; reason: string}[]
  /** Further figures, written to the JSON as they are. */
  details?: Record<string, unknown>
}

interface Row extends Measurement {
  medianS: number
  throughput: number
}

export interface Benchmark {
  name: string
  description: string
  run(): Promise<BenchResult>
}

const BENCHMARKS: Benchmark[] = [mel, towers, zeroshot, train, gemm, html, onthefly, videoframes]

const resultsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results')

function printTable(benchmark: Benchmark, result: BenchResult, rows: Row[]): void {
  const reference = rows[rows.length - 1]
  const lines = [
    ['contender', 'median s', result.unit, 'ratio'],
    ...rows.map((r) => [
      r.name,
      r.medianS.toFixed(2),
      r.throughput.toFixed(0),
      (r.throughput / reference.throughput).toFixed(2),
    ]),
  ]
  const widths = lines[0].map((_, c) => Math.max(...lines.map((l) => l[c].length)))
  console.log(`\n${benchmark.name}: ${benchmark.description}\n${result.workload}`)
  for (const l of lines)
    console.log(l.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '))
  console.log(`ratio: throughput relative to ${reference.name}`)
  for (const u of result.unavailable) console.log(`(not run: ${u.name}: ${u.reason})`)
}

async function main(): Promise<void> {
  const names = process.argv.slice(2)
  const unknown = names.filter((n) => !BENCHMARKS.some((b) => b.name === n))
  if (unknown.length) {
    console.error(`unknown benchmark ${unknown.join(', ')}; available: ${BENCHMARKS.map((b) => b.name).join(', ')}`)
    process.exit(2)
  }
  mkdirSync(resultsDir, {recursive: true})
  for (const benchmark of BENCHMARKS.filter((b) => names.length === 0 || names.includes(b.name))) {
    const result = await benchmark.run()
    const rows = result.measurements.map((m) => {
      const medianS = median(m.runsS)
      return {...m, medianS, throughput: m.work / medianS}
    })
    printTable(benchmark, result, rows)
    const machine = {node: process.version, cpu: os.cpus()[0]?.model, cores: os.cpus().length, platform: os.platform()}
    const file = path.join(resultsDir, `${benchmark.name}.json`)
    const {measurements: _, ...rest} = result
    const report = {benchmark: benchmark.name, date: new Date().toISOString(), machine, ...rest, rows}
    writeFileSync(file, JSON.stringify(report, null, 2) + '\n')
    console.log(`wrote ${path.relative(process.cwd(), file)}`)
  }
}

await main()
