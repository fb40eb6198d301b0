/**
 * Matrix products of a ViT-B/32 audio-tower block at batch 8 (2448 tokens: 8 clips of 306), forward and gradients,
 * on one thread: tfjs wasm's BatchMatMul kernel with products on XNNPACK (VIPANT_GEMM=xnnpack; operands transposed
 * explicitly first, as the BatchMatMul kernel does for XNNPACK, since XNNPACK's own transposed path runs at about 1 GFLOP/s)
 * and on ONNX Runtime's MLAS (the default, src/lib/backend/native-gemm.ts; transposes handed to MLAS), against
 * PyTorch on one thread (bench/gemm_torch.py), in the same run. Then one VA pre-training step of a ViT-B/32-width
 * audio tower with VIPANT_BENCH_GEMM_LAYERS blocks (default 1; 12 is the whole tower) at batch 8, on one tfjs thread
 * with each GEMM and in PyTorch on one thread, taking turns step by step, in CPU seconds (the work, on a machine
 * that others load) and wall-clock seconds.
 *
 * PyTorch's BLAS is whatever libblas its process maps: run with
 * LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread for OpenBLAS; the contender's name says which ran.
 */
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import * as tf from '@tensorflow/tfjs-core'
import {selectBackend} from '../src/lib/backend/index.js'
import type {AudioEncoder} from '../src/lib/model/audio-encoder.js'
import {audioFromClip} from '../src/lib/train/audio-init.js'
import {localStep} from '../src/lib/train/gradient-step.js'
import {registerGradients} from '../src/lib/train/gradients.js'
import {lars} from '../src/lib/train/optimizer.js'
import {PairModel, trainableTowers} from '../src/lib/train/pair-model.js'
import {CLIP_SIZES, randomClip} from '../src/lib/train/random-clip.js'
import {mulberry32} from '../src/lib/util/rng.js'
import {median} from './median.js'
import {pythonProcess} from './python-process.js'
import type {Benchmark, Measurement} from './run.js'

const TORCH_SCRIPT = path.join(
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..'),
  'bench',
  'gemm_torch.py',
)
const [TOKENS, WIDTH, MLP] = [8 * 306, 768, 3072]
/** [name, M, K, N, transposeA, transposeB]: op(a) is M x K, op(b) K x N. */
const PRODUCTS: [string, number, number, number, boolean, boolean][] = [
  ['attention in-projection', TOKENS, WIDTH, 3 * WIDTH, false, false],
  ['attention out-projection', TOKENS, WIDTH, WIDTH, false, false],
  ['MLP up', TOKENS, WIDTH, MLP, false, false],
  ['MLP down', TOKENS, MLP, WIDTH, false, false],
  ["MLP up, input's gradient dY Wᵀ", TOKENS, MLP, WIDTH, false, true],
  ["MLP up, weight's gradient Xᵀ dY", WIDTH, TOKENS, MLP, true, false],
  ["MLP down, weight's gradient Xᵀ dY", MLP, TOKENS, WIDTH, true, false],
]
const [WARMUP, RUNS] = [1, 3]
const [FRAMES, BATCH, STEP_RUNS] = [1000, 8, 2]
const LAYERS = Number(process.env.VIPANT_BENCH_GEMM_LAYERS ?? 1)
const GEMMS = ['xnnpack', 'mlas'] as const

interface Timed {
  wallS: number
  cpuS: number
}

function timed(fn: () => void): Timed {
  const [start, cpu] = [process.hrtime.bigint(), process.cpuUsage()]
  fn()
  const {user, system} = process.cpuUsage(cpu)
  return {wallS: Number(process.hrtime.bigint() - start) / 1e9, cpuS: (user + system) / 1e6}
}

/** Runs `fn` with products on `gemm` (VIPANT_GEMM is read at every product). */
async function withGemm<T>(gemm: (typeof GEMMS)[number], fn: () => T | Promise<T>): Promise<T> {
  const before = process.env.VIPANT_GEMM
  process.env.VIPANT_GEMM = gemm
  try {
    return await fn()
  } finally {
    if (before === undefined) delete process.env.VIPANT_GEMM
    else process.env.VIPANT_GEMM = before
  }
}

/** One tfjs product, as each GEMM runs it in training (see the header), its result read back. */
function tfjsProduct(gemm: (typeof GEMMS)[number], a: tf.Tensor2D, b: tf.Tensor2D, ta: boolean, tb: boolean) {
  return withGemm(gemm, () =>
    timed(() =>
      tf.tidy(() => {
        const product =
          gemm === 'mlas' ? tf.matMul(a, b, ta, tb) : tf.matMul(ta ? tf.transpose(a) : a, tb ? tf.transpose(b) : b)
        product.dataSync()
      }),
    ),
  )
}

/** A one-thread tfjs training step of the audio tower as bench/train.ts runs it, with LAYERS blocks. */
function tfjsStep() {
  const audio = audioFromClip(randomClip({...CLIP_SIZES['vit-b32'], layers: LAYERS}, 1213), FRAMES)
  const model = new PairModel(trainableTowers({audio}), {}, Math.log(1 / 0.07), audio.config)
  const params = model.parameters()
  const gradients = localStep(model, params.flatMap((p) => p.parts) as tf.Variable[])
  const optimizer = lars({weightDecay: 1e-6, momentum: 0.9, eta: 0.001, lrWeight: 0.2, lrBias: 0.0048})
  const rng = mulberry32(2)
  const dim = (model.trainable.audio as AudioEncoder).outputDim
  const images = Array.from({length: BATCH}, () => Float32Array.from({length: dim}, () => rng() - 0.5))
  return {
    async step(gemm: (typeof GEMMS)[number]): Promise<Timed> {
      const mels = Array.from({length: BATCH}, () => Float32Array.from({length: FRAMES * 128}, () => 2 * rng() - 1))
      return withGemm(gemm, async () => {
        const [start, cpu] = [process.hrtime.bigint(), process.cpuUsage()]
        const {grads} = await gradients.run({towers: ['audio', 'image'], items: [mels, images]})
        optimizer.apply(params, grads, BATCH / 256)
        model.logitScale.dataSync()
        const {user, system} = process.cpuUsage(cpu)
        tf.dispose([...grads.values()])
        return {wallS: Number(process.hrtime.bigint() - start) / 1e9, cpuS: (user + system) / 1e6}
      })
    },
    async dispose() {
      await gradients.close()
      optimizer.dispose()
      model.dispose()
    },
  }
}

export const gemm: Benchmark = {
  name: 'gemm',
  description:
    "a ViT-B/32 block's matrix products at batch 8 on one thread, tfjs wasm with XNNPACK and with MLAS vs PyTorch; " +
    'and a one-thread training step of a ViT-B/32-width audio tower with each',
  async run() {
    const description = (await selectBackend('wasm')).description.replace(/^backend: /, '')
    await registerGradients()
    const loadBefore = os.loadavg()[0]
    const python = pythonProcess(TORCH_SCRIPT, {...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1'})
    const hello = await python.reply()
    const torchName = `PyTorch ${hello.torch} (BLAS ${hello.blas}: ${hello.blas_library}, ${hello.threads} thread)`
    const torch = async (request: string): Promise<Timed> => {
      python.send(`${request}\n`)
      const reply = await python.reply()
      return {wallS: reply.run_s as number, cpuS: reply.cpu_s as number}
    }
    const names = {xnnpack: `tfjs ${description}, XNNPACK`, mlas: 'tfjs wasm, MLAS (onnxruntime-node)'}
    const SHORT = new Map([
      [names.xnnpack, 'XNNPACK'],
      [names.mlas, 'MLAS'],
      [torchName, 'PyTorch'],
    ])
    const measurements: Measurement[] = []
    const products: Record<string, Record<string, {gflops_cpu: number; gflops_wall: number}>> = {}
    for (const [label, M, K, N, ta, tb] of PRODUCTS) {
      const gflop = (2 * M * K * N) / 1e9
      const rng = mulberry32(M + K + N)
      const values = (n: number) => Float32Array.from({length: n}, () => 2 * rng() - 1)
      const a = tf.tensor2d(values(M * K), ta ? [K, M] : [M, K])
      const b = tf.tensor2d(values(K * N), tb ? [N, K] : [K, N])
      const runs: Record<string, Timed[]> = {}
      for (let r = 0; r < WARMUP + RUNS; r++) {
        const round: [string, Timed][] = []
        for (const g of GEMMS) round.push([names[g], await tfjsProduct(g, a, b, ta, tb)])
        round.push([torchName, await torch(`product ${M} ${K} ${N} ${+ta} ${+tb}`)])
        if (r >= WARMUP) for (const [name, t] of round) (runs[name] ??= []).push(t)
      }
      tf.dispose([a, b])
      const name = `${label} ${M}x${K}${ta ? 'ᵀ' : ''} @ ${K}x${N}${tb ? 'ᵀ' : ''}`
      products[name] = {}
      for (const [contender, times] of Object.entries(runs)) {
        measurements.push({name: `${name}: ${contender}`, runsS: times.map((t) => t.wallS), work: gflop})
        products[name][contender] = {
          gflops_cpu: gflop / median(times.map((t) => t.cpuS)),
          gflops_wall: gflop / median(times.map((t) => t.wallS)),
        }
      }
    }
    const step = tfjsStep()
    const steps: Record<string, Timed[]> = {}
    for (let r = 0; r < WARMUP + STEP_RUNS; r++) {
      const round: [string, Timed][] = []
      for (const g of GEMMS) round.push([names[g], await step.step(g)])
      round.push([torchName, await torch(`step ${LAYERS} ${BATCH}`)])
      if (r >= WARMUP) for (const [name, t] of round) (steps[name] ??= []).push(t)
    }
    await step.dispose()
    python.close()
    const perStep = Object.fromEntries(
      Object.entries(steps).map(([name, times]) => [
        name,
        {cpu_s: median(times.map((t) => t.cpuS)), wall_s: median(times.map((t) => t.wallS))},
      ]),
    )
    const torchCpu = perStep[torchName].cpu_s
    const lines = [
      'GFLOP/s per product from CPU seconds (medians):',
      ...Object.entries(products).map(
        ([name, by]) =>
          `  ${name}: ${Object.entries(by)
            .map(([c, r]) => `${SHORT.get(c)} ${r.gflops_cpu.toFixed(1)}`)
            .join(', ')}`,
      ),
      `training step, ViT-B/32 width, ${LAYERS} block${LAYERS > 1 ? 's' : ''}, batch ${BATCH}, one thread (CPU s, wall s, CPU over PyTorch's):`,
      ...Object.entries(perStep).map(
        ([name, r]) =>
          `  ${name}: ${r.cpu_s.toFixed(2)} CPU s, ${r.wall_s.toFixed(2)} s, ${(r.cpu_s / torchCpu).toFixed(2)}x`,
      ),
      `load average (1 min): ${loadBefore.toFixed(1)} before, ${os.loadavg()[0].toFixed(1)} after`,
    ]
    return {
      unit: 'GFLOP/s',
      workload: `${WARMUP} warm-up + ${RUNS} timed products each, contenders taking turns; wall-clock figures below\n${lines.join('\n')}`,
      measurements,
      unavailable: [],
      details: {
        products,
        step: {layers: LAYERS, batch: BATCH, frames: FRAMES, runs: STEP_RUNS, per_contender: perStep},
        load_average_1min: {before: loadBefore, after: os.loadavg()[0]},
        gemm_threads: Number(process.env.VIPANT_GEMM_THREADS ?? 1),
      },
    }
  },
}
