/**
 * `npm run gpu-check [-- --rehearse] [-- --out FILE]`: one short, unattended check of vipant's GPU paths (tfjs webgpu,
 * tfjs tensorflow-gpu, ONNX Runtime webgpu) on a machine with a GPU, in under 5 minutes: the adapter and driver,
 * tower parity against the committed PyTorch fixtures, tower throughput at ViT-B/32 size against ONNX Runtime on the
 * CPU, and a ViT-B/32 audio-tower training step against wasm. Every figure goes to bench/results/gpu-check.json
 * (rewritten after each section, so a run cut short keeps what it measured) and to tables on stdout.
 *
 * Without a GPU device it prints one line and exits 0. `--rehearse` runs every section on a machine without a GPU,
 * CPU engines standing in for the GPU ones and tiny towers for ViT-B/32, to check the script itself.
 * Exit status: 0, or 1 when a parity or loss check fails; a run past the hard limit is ended by a watchdog (143).
 */
import {mkdirSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'
import {Worker} from 'node:worker_threads'
import {gpuDevices} from '../src/lib/backend/index.js'
import type {TowerWeights} from './gpu-paths.js'

/** Seconds: the whole run, then each section's share (a section also stops at the whole run's limit). */
const HARD_LIMIT_S = 270
const BUDGET_S = {parity: 30, throughput: 110, training: 90}
const SEED = 1213

const resultsFile = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'bench',
  'results',
  'gpu-check.json',
)
const {values: flags} = parseArgs({
  options: {rehearse: {type: 'boolean', default: false}, out: {type: 'string', default: resultsFile}},
})

if (!flags.rehearse && gpuDevices().length === 0) {
  console.log('gpu-check: no GPU on this machine (no /dev/nvidia* or /dev/dri/renderD* device); nothing to check')
  process.exit(0)
}

/** Ends the process from another thread, which runs even while the main one is blocked in a kernel or a compile. */
function watchdog(limitS: number, file: string): void {
  const message = JSON.stringify(`gpu-check: hard limit of ${limitS} s reached; what was measured is in ${file}\n`)
  const code = `setTimeout(() => { require('node:fs').writeSync(2, ${message}); process.kill(${process.pid}, 'SIGTERM') }, ${limitS * 1000})`
  new Worker(code, {eval: true}).unref()
}

// libtensorflow (tfjs-node-gpu) otherwise reserves nearly all GPU memory at start-up, which hides the peak.
process.env.TF_FORCE_GPU_ALLOW_GROWTH ??= 'true'
const started = Date.now()
watchdog(HARD_LIMIT_S, flags.out)

const {table} = await import('../src/lib/eval/report.js')
const {CLIP_SIZES, randomClip} = await import('../src/lib/train/random-clip.js')
const {audioFromClip} = await import('../src/lib/train/audio-init.js')
const {DEFAULT_AUDIO_CONFIG} = await import('../src/lib/checkpoint/audio-config.js')
const {randomTextWeights, randomWeights} = await import('./towers.js')
const {TimeBox} = await import('./gpu-paths.js')
const {probe} = await import('./gpu-probe.js')
const {parity, PARITY_RELATIVE_TOLERANCE, throughput} = await import('./gpu-towers.js')
const {training, LOSS_RELATIVE_TOLERANCE, TRAIN_BATCHES} = await import('./gpu-train.js')

const report: Record<string, unknown> = {
  check: 'gpu-check',
  date: new Date().toISOString(),
  rehearsal: flags.rehearse,
  stage: 'probe machine',
  host: {
    node: process.version,
    cpu: os.cpus()[0]?.model,
    cores: os.availableParallelism(),
    platform: `${os.platform()} ${os.release()}`,
  },
}
const save = (complete = false) => {
  mkdirSync(path.dirname(flags.out), {recursive: true})
  writeFileSync(
    flags.out,
    JSON.stringify({...report, complete, elapsed_s: (Date.now() - started) / 1000}, null, 2) + '\n',
  )
}
const box = (budget: number) => new TimeBox(Math.min(budget, HARD_LIMIT_S - 15 - (Date.now() - started) / 1000))
const fmt = (x: number | undefined, digits = 2) =>
  x === undefined ? '-' : x < 1e-2 && x !== 0 ? x.toExponential(1) : x.toFixed(digits)

/**
 * ViT-B/32-size towers: `npm run bench -- towers`'s random weights (uniform, CLIP-like scale, fixed seeds; a few
 * seconds to draw); in a rehearsal a tiny CLIP from its seed, the audio tower from its image tower.
 */
function randomTowers(rehearse: boolean): {weights: TowerWeights; vocab: number; embedDim: number} {
  if (rehearse) {
    const size = CLIP_SIZES.tiny
    const clip = randomClip(size, SEED)
    return {weights: {clip, audio: audioFromClip(clip, 1000)}, vocab: size.vocabSize, embedDim: size.embedDim}
  }
  const {audio, visual} = randomWeights()
  const clip = new Map([...visual, ...randomTextWeights()])
  const {vocabSize, embedDim} = CLIP_SIZES['vit-b32']
  return {weights: {clip, audio: {weights: audio, config: DEFAULT_AUDIO_CONFIG}}, vocab: vocabSize, embedDim}
}

/** Where the run is, in the file and on stdout, so that a run that dies in native code shows where. */
function stage(name: string, heading: string): void {
  report.stage = name
  save()
  console.log(`\n${heading}`)
}

/** Each section in turn; true when a check failed. */
async function main(): Promise<boolean> {
  let failed = false

  // 1. The machine and the paths that start.
  console.log(
    `gpu-check${flags.rehearse ? ' (rehearsal: CPU engines stand in for the GPU ones, tiny towers for ViT-B/32)' : ''}`,
  )
  const found = await probe(flags.rehearse, (name) => {
    report.stage = `probe ${name}`
    save()
  })
  Object.assign(report, {machine: found.machine, paths: found.paths})
  for (const [key, value] of Object.entries(found.machine))
    console.log(`${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`)
  console.log('')
  const pathRows = found.paths.map((p) => [p.path.name, p.usable ? 'yes' : 'no', p.syncRead ?? '-', p.note])
  console.log(table(['path', 'starts', 'sync read', 'note'], pathRows).join('\n'))
  const paths = found.paths.filter((p) => p.usable).map((p) => p.path)
  if (paths.length === 0) {
    console.log('\nno GPU path started: see the notes above and docs/gpu.md')
    return false
  }

  // 2. Tower parity against the PyTorch fixtures.
  stage(
    'parity',
    `parity with PyTorch (test/fixtures/model; tolerance ${PARITY_RELATIVE_TOLERANCE} x the output's largest magnitude)`,
  )
  const parityRows = await parity(paths, box(BUDGET_S.parity))
  report.parity = {relative_tolerance: PARITY_RELATIVE_TOLERANCE, rows: parityRows}
  failed ||= parityRows.some((r) => r.status === 'FAIL' || r.status === 'ERROR')
  const parityCells = parityRows.map((r) => [
    r.path,
    r.case,
    fmt(r.max_abs_error),
    fmt(r.tolerance),
    r.status,
    r.note ?? '',
  ])
  console.log(table(['path', 'case', 'max abs error', 'tolerance', 'status', 'note'], parityCells).join('\n'))

  // 3. Throughput at ViT-B/32 size (tiny in a rehearsal), random weights from a fixed seed.
  const sizeName = flags.rehearse ? 'tiny' : 'vit-b32'
  stage(
    'throughput',
    `throughput, ${sizeName} towers: audio (1000, 128), text 77 tokens, image 224 px; median of up to 3 passes after one warm-up`,
  )
  const {weights, vocab, embedDim} = randomTowers(flags.rehearse)
  const reference = {name: 'ort cpu (reference)', engine: 'ort', provider: 'cpu'} as const
  const throughputRows = await throughput(paths, reference, weights, vocab, box(BUDGET_S.throughput))
  report.throughput = {size: sizeName, rows: throughputRows}
  console.log(
    table(
      ['path', 'tower', 'batch', 'warm-up s', 'median s', 'inputs/s', 'x cpu', 'note'],
      throughputRows.map((r) => [
        r.path,
        r.tower,
        String(r.batch),
        fmt(r.warmup_s),
        fmt(r.median_s, 3),
        fmt(r.inputs_per_s, 1),
        fmt(r.speedup_over_cpu),
        r.note ?? '',
      ]),
    ).join('\n'),
  )

  // 4. One audio-tower training step per batch size on each tfjs GPU backend, its loss against wasm's.
  stage(
    'training',
    `training step, ${sizeName} audio tower on (1000, 128) against frozen image embeddings (loss, backward, LARS)`,
  )
  const trained = await training(paths, weights, embedDim, box(BUDGET_S.training))
  report.training = {loss_relative_tolerance: LOSS_RELATIVE_TOLERANCE, ...trained}
  failed ||= trained.loss.some((l) => l.status === 'FAIL')
  if (trained.note) console.log(trained.note)
  const memory = (m?: Record<string, unknown>) =>
    m ? `${(Number(m.numBytesAllocatedInGPU ?? m.numBytes) / 2 ** 20).toFixed(0)} MiB` : '-'
  console.log(
    table(
      ['path', 'batch', 'first step s', 'step s', 'loss', 'checkpointed', 'tf memory', 'nvidia-smi MiB', 'note'],
      trained.rows.map((r) => [
        r.path,
        String(r.batch),
        fmt(r.first_step_s),
        fmt(r.step_s),
        fmt(r.loss, 5),
        String(r.blocks_checkpointed ?? '-'),
        memory(r.tf_memory),
        String(r.nvidia_smi_mib_over_baseline ?? '-'),
        r.note ?? '',
      ]),
    ).join('\n'),
  )
  if (trained.wasm) {
    const {loss, forward_s} = trained.wasm
    const tolerance = `tolerance ${LOSS_RELATIVE_TOLERANCE} x max(1, |loss|)`
    console.log(
      `wasm batch-${TRAIN_BATCHES[0]} loss ${loss.toFixed(5)} (forward ${forward_s.toFixed(1)} s); ${tolerance}`,
    )
  }
  for (const l of trained.loss)
    console.log(
      `  ${l.path}: |${l.loss_gpu.toFixed(5)} - ${l.loss_wasm.toFixed(5)}| = ${fmt(l.abs_difference)} ${l.status}`,
    )
  return failed
}

try {
  const failed = await main()
  report.stage = 'done'
  save(true)
  console.log(
    `\n${failed ? 'FAILED' : 'done'} in ${((Date.now() - started) / 1000).toFixed(0)} s; wrote ${path.relative(process.cwd(), flags.out)}`,
  )
  process.exit(failed ? 1 : 0)
} catch (error) {
  // What was measured so far stays in the file, with the reason the run stopped.
  report.error = error instanceof Error ? error.stack : String(error)
  save()
  console.error(
    `gpu-check: stopped in ${report.stage}: ${error instanceof Error ? error.message : String(error)}; what was measured is in ${flags.out}`,
  )
  process.exit(1)
}
