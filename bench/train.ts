/**
 * Training steps of VA pre-training's trainable part (docs/method.md §6, §7.1): the audio tower on (1000, 128) log-mels
 * against precomputed frozen image embeddings, the sum of both cross-entropy directions with a learned logit scale,
 * then a LARS update; at ViT-B/32 size (width 768, 12 layers, 61x5 patch grid, batch 8) and at `--model tiny` size
 * (width 64, 1 layer), both from `randomClip` as `vipant pretrain` starts without --init. TensorFlow.js on wasm
 * (the trainer's engine: as many blocks checkpointed as the heap needs, see src/lib/model/transformer.ts), on one thread and
 * split over one data-parallel worker per core, against the same step in PyTorch (bench/train_torch.py, 2 threads and 1)
 * in the same run, taking turns step by step. Then one in-training evaluation per size (16 held-out clips through
 * the trainable audio tower, graph building included), on tfjs and on ONNX Runtime as the trainer runs it.
 * Besides wall-clock time, each step's CPU seconds (the whole process: every thread and worker): on a machine that
 * others load, wall-clock ratios follow the scheduler (PyTorch's two threads wait on each other), CPU time the work.
 */
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import * as tf from '@tensorflow/tfjs-core'
import {selectBackend} from '../src/lib/backend/index.js'
import type {AudioEncoder} from '../src/lib/model/audio-encoder.js'
import {audioFromClip} from '../src/lib/train/audio-init.js'
import {dataParallelStep} from '../src/lib/train/data-parallel.js'
import {localStep} from '../src/lib/train/gradient-step.js'
import {tfjsEngine} from '../src/lib/train/evaluate.js'
import {registerGradients} from '../src/lib/train/gradients.js'
import {onnxEngine} from '../src/lib/train/onnx-evaluation.js'
import {lars} from '../src/lib/train/optimizer.js'
import {PairModel, trainableTowers} from '../src/lib/train/pair-model.js'
import {CLIP_SIZES, randomClip, type ClipSize} from '../src/lib/train/random-clip.js'
import {mulberry32} from '../src/lib/util/rng.js'
import {torchProcess} from './python-process.js'
import {median} from './median.js'
import type {Benchmark, Measurement} from './run.js'

const TORCH_SCRIPT = path.join(
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..'),
  'bench',
  'train_torch.py',
)
const [FRAMES, BATCH] = [1000, 8]
/** Held-out clips of the in-training evaluation timed once per size, tfjs vs ONNX Runtime (src/lib/train/onnx-evaluation.ts). */
const EVAL_CLIPS = 16
/** Untimed warm-up steps, then timed ones: ViT-B steps take tens of seconds on wasm. */
const ALL_WORKLOADS = [
  {size: 'tiny', warmup: 1, runs: 5},
  {size: 'vit-b32', warmup: 1, runs: 2},
  {size: 'vit-b32-1block', warmup: 1, runs: 2},
] as const
type Size = (typeof ALL_WORKLOADS)[number]['size']
/** The towers timed: ViT-B/32's first block alone stands for its twelve where a full step takes too long. */
const SIZES: Record<Size, ClipSize> = {
  tiny: CLIP_SIZES.tiny,
  'vit-b32': CLIP_SIZES['vit-b32'],
  'vit-b32-1block': {...CLIP_SIZES['vit-b32'], layers: 1},
}
/**
 * VIPANT_BENCH_TRAIN_SIZES=tiny times one size only: ViT-B's steps take minutes on a busy machine. vit-b32-1block
 * runs only when named there.
 */
const WORKLOADS = ALL_WORKLOADS.filter((w) =>
  (process.env.VIPANT_BENCH_TRAIN_SIZES ?? 'tiny,vit-b32').split(',').includes(w.size),
)

/** One step's wall-clock and CPU seconds. */
interface Timed {
  wallS: number
  cpuS: number
}

interface Contender {
  name: string
  step(size: Size): Promise<Timed>
  close(): Promise<void>
}

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9
/** CPU seconds of this process since `start` (a process.cpuUsage()): worker threads included. */
const cpuSeconds = (start: NodeJS.CpuUsage) => {
  const {user, system} = process.cpuUsage(start)
  return (user + system) / 1e6
}

/** The wasm heap's size: it grows to the step's peak and never shrinks. */
function wasmHeapBytes(): number {
  return (tf.backend() as unknown as {wasm: {HEAPU8: Uint8Array}}).wasm.HEAPU8.buffer.byteLength
}

/**
 * tfjs on wasm, one tower per size built on first use (untimed), steps as the trainer runs them: on one thread, or
 * split over `workers` data-parallel worker threads (src/lib/train/data-parallel.ts).
 */
async function tfjsContender(
  workers: number,
): Promise<Contender & {checkpointing: Record<string, string>; evaluate(size: Size): Promise<Record<string, number>>}> {
  const description = (await selectBackend('wasm')).description.replace(/^backend: /, '')
  await registerGradients()
  const runs = new Map<Size, Awaited<ReturnType<typeof tfjsRun>>>()
  const checkpointing: Record<string, string> = {}
  return {
    name: `tfjs ${description}${workers > 1 ? `, ${workers} data-parallel workers` : ''}`,
    checkpointing,
    async step(size) {
      if (!runs.has(size)) runs.set(size, await tfjsRun(size, workers))
      const run = runs.get(size)!
      const audio = run.model.trainable.audio as AudioEncoder
      const [rows, columns] = audio.grid(FRAMES)
      const recomputed = audio.transformer.checkpointedBlocks([
        Math.ceil(BATCH / workers),
        1 + rows * columns,
        audio.width,
      ])
      checkpointing[size] = recomputed > 0 ? `${recomputed} of ${audio.transformer.layers} blocks checkpointed` : ''
      return run.step()
    },
    evaluate: (size: Size) => runs.get(size)!.evaluate(),
    close: async () => {
      for (const run of runs.values()) await run.dispose()
    },
  }
}

async function tfjsRun(size: Size, workers: number) {
  const audio = audioFromClip(randomClip(SIZES[size], 1213), FRAMES)
  const model = new PairModel(trainableTowers({audio}), {}, Math.log(1 / 0.07), audio.config)
  const params = model.parameters()
  const variables = params.flatMap((p) => p.parts) as tf.Variable[]
  const gradients =
    workers > 1
      ? await dataParallelStep(model, variables, workers, {backend: 'wasm', checkpointBlocks: 'auto'})
      : localStep(model, variables)
  const optimizer = lars({weightDecay: 1e-6, momentum: 0.9, eta: 0.001, lrWeight: 0.2, lrBias: 0.0048})
  const rng = mulberry32(2)
  const images = Array.from({length: BATCH}, () =>
    Float32Array.from({length: (model.trainable.audio as AudioEncoder).outputDim}, () => rng() - 0.5),
  )
  return {
    model,
    async step(): Promise<Timed> {
      const mels = Array.from({length: BATCH}, () => Float32Array.from({length: FRAMES * 128}, () => 2 * rng() - 1)) // drawn before the clock starts
      const [start, cpu] = [process.hrtime.bigint(), process.cpuUsage()]
      const {grads} = await gradients.run({towers: ['audio', 'image'], items: [mels, images]})
      optimizer.apply(params, grads, BATCH / 256)
      model.logitScale.dataSync()
      const timed = {wallS: seconds(start), cpuS: cpuSeconds(cpu)}
      tf.dispose([...grads.values()])
      return timed
    },
    /** Seconds for one evaluation of EVAL_CLIPS held-out clips by each engine, as the trainer runs it (build included). */
    async evaluate(): Promise<Record<string, number>> {
      const clips = Array.from({length: EVAL_CLIPS}, () =>
        Float32Array.from({length: FRAMES * 128}, () => 2 * rng() - 1),
      )
      const timed: Record<string, number> = {}
      for (const engine of [tfjsEngine(model), await onnxEngine(model)]) {
        if (!engine) continue
        const start = process.hrtime.bigint()
        const {embed, close} = await engine.open()
        await embed('audio', clips)
        await close()
        timed[engine.name.split(',')[0]] = seconds(start)
      }
      return timed
    },
    async dispose() {
      await gradients.close()
      optimizer.dispose()
      model.dispose()
    },
  }
}

/** PyTorch on its 2 threads, or on one (OpenBLAS held to it too): the per-core comparison. */
async function torchContender(threads: 1 | 2): Promise<Contender> {
  const env = threads === 1 ? {OPENBLAS_NUM_THREADS: '1', VIPANT_BENCH_TORCH_THREADS: '1'} : {}
  const {python, name} = await torchProcess(TORCH_SCRIPT, {...process.env, ...env})
  return {
    name,
    step: async (size) => {
      python.send(`${size} ${BATCH}\n`)
      const reply = await python.reply()
      return {wallS: reply.run_s as number, cpuS: reply.cpu_s as number}
    },
    close: async () => python.close(),
  }
}

export const train: Benchmark = {
  name: 'train',
  description:
    'one VA pre-training step of the audio tower on (1000, 128) log-mels, batch 8, against precomputed image embeddings ' +
    '(forward, loss, backward, LARS), at ViT-B/32 and tiny size, tfjs wasm on one thread and data-parallel on every core ' +
    'vs PyTorch in the same run; steps per hour; and one in-training evaluation of 16 clips, tfjs vs ONNX Runtime',
  async run() {
    const unavailable: {name: string; reason: string}[] = [
      {
        name: 'tfjs wasm ViT-B/32 without block checkpointing',
        reason: 'its tape (~1.3 GB per block at batch 8) outgrows the 4 GB wasm heap',
      },
    ]
    const workers = Math.max(2, os.availableParallelism())
    const loadBefore = os.loadavg()[0]
    const single = await tfjsContender(1)
    const parallel = await tfjsContender(workers)
    const contenders: Contender[] = [single, parallel]
    const torch: Partial<Record<1 | 2, Contender>> = {}
    try {
      ;[torch[2], torch[1]] = [await torchContender(2), await torchContender(1)]
      contenders.push(torch[2], torch[1])
    } catch (e) {
      unavailable.push({name: 'PyTorch', reason: (e as Error).message.split('\n')[0]})
    }
    const rows = new Map<string, Measurement>()
    const cpu = new Map<string, number[]>()
    const heap: Record<string, number> = {}
    const evaluation: Record<string, Record<string, number>> = {}
    for (const w of WORKLOADS) {
      for (let r = 0; r < w.warmup + w.runs; r++) {
        for (const c of contenders) {
          const {wallS: s, cpuS} = await c.step(w.size)
          if (r < w.warmup) continue
          const checkpointed =
            c === single ? single.checkpointing[w.size] : c === parallel && parallel.checkpointing[w.size]
          const name = `${w.size} ${checkpointed ? `${c.name}, ${checkpointed}` : c.name}`
          if (!rows.has(name)) rows.set(name, {name, runsS: [], work: 3600})
          rows.get(name)!.runsS.push(s)
          cpu.set(name, [...(cpu.get(name) ?? []), cpuS])
        }
      }
      heap[w.size] = wasmHeapBytes()
      evaluation[w.size] = await single.evaluate(w.size)
    }
    for (const c of contenders) await c.close()
    const measurements = [...rows.values()]
    // Seconds per step per size: one thread, data-parallel, PyTorch, and the ratios between them.
    const perSize = Object.fromEntries(
      WORKLOADS.map(({size}) => {
        const row = (c?: Contender) => c && measurements.find((m) => m.name.startsWith(`${size} ${c.name}`))
        const timeOf = (c?: Contender) => {
          const m = row(c)
          return m && median(m.runsS)
        }
        const cpuOf = (c?: Contender) => {
          const m = row(c)
          return m && median(cpu.get(m.name)!)
        }
        const [one, dp, torch2] = [timeOf(single), timeOf(parallel), timeOf(torch[2])]
        const [oneCpu, dpCpu, torchCpu, torch1Cpu] = [single, parallel, torch[2], torch[1]].map(cpuOf)
        return [
          size,
          {
            tfjs_s_per_step: one,
            tfjs_data_parallel_s_per_step: dp,
            pytorch_s_per_step: torch2,
            pytorch_1thread_s_per_step: timeOf(torch[1]),
            data_parallel_speedup: one && dp ? one / dp : undefined,
            data_parallel_over_pytorch: dp && torch2 ? dp / torch2 : undefined,
            tfjs_cpu_s_per_step: oneCpu,
            tfjs_data_parallel_cpu_s_per_step: dpCpu,
            pytorch_cpu_s_per_step: torchCpu,
            cpu_tfjs_over_pytorch: oneCpu && torchCpu ? oneCpu / torchCpu : undefined,
            pytorch_1thread_cpu_s_per_step: torch1Cpu,
            cpu_tfjs_over_pytorch_1thread: oneCpu && torch1Cpu ? oneCpu / torch1Cpu : undefined,
            wasm_heap_mb_after: heap[size] / 2 ** 20,
            evaluation_s: evaluation[size],
          },
        ]
      }),
    )
    const lines = Object.entries(perSize).map(
      ([size, r]) =>
        `  ${size}: tfjs ${r.tfjs_s_per_step?.toFixed(2)} s/step on one thread, ${r.tfjs_data_parallel_s_per_step?.toFixed(2)} s/step with ${workers} workers ` +
        `(${r.data_parallel_speedup?.toFixed(2)}x), PyTorch ${r.pytorch_s_per_step?.toFixed(2) ?? '-'} s/step` +
        `${r.data_parallel_over_pytorch ? `: data-parallel tfjs takes ${r.data_parallel_over_pytorch.toFixed(2)}x PyTorch's time` : ''}; ` +
        `CPU s/step: tfjs ${r.tfjs_cpu_s_per_step?.toFixed(2)} one thread, ${r.tfjs_data_parallel_cpu_s_per_step?.toFixed(2)} data-parallel, ` +
        `PyTorch ${r.pytorch_cpu_s_per_step?.toFixed(2) ?? '-'}${r.cpu_tfjs_over_pytorch ? ` (one-thread tfjs ${r.cpu_tfjs_over_pytorch.toFixed(2)}x PyTorch's CPU time)` : ''}, ` +
        `PyTorch on one thread ${r.pytorch_1thread_cpu_s_per_step?.toFixed(3) ?? '-'}` +
        `${r.cpu_tfjs_over_pytorch_1thread ? ` (one-thread tfjs ${r.cpu_tfjs_over_pytorch_1thread.toFixed(2)}x: per core)` : ''}; ` +
        `one-thread wasm heap ${r.wasm_heap_mb_after.toFixed(0)} MiB; evaluation of ${EVAL_CLIPS} clips: ` +
        Object.entries(r.evaluation_s)
          .map(([engine, s]) => `${engine} ${s.toFixed(2)} s`)
          .join(', '),
    )
    // The table compares every row with the last: PyTorch at ViT-B size.
    const reference = measurements.findIndex((m) => m.name.startsWith('vit-b32 PyTorch'))
    if (reference >= 0) measurements.push(...measurements.splice(reference, 1))
    return {
      unit: 'steps/h',
      workload:
        `${WORKLOADS.map((w) => `${w.size}: ${w.warmup} warm-up + ${w.runs} timed steps`).join('; ')}; compare rows of the same size\n` +
        `per size (medians; the wasm heap grows to the peak of the steps so far and never shrinks):\n${lines.join('\n')}`,
      measurements,
      unavailable,
      details: {
        per_size: perSize,
        load_average_1min: {before: loadBefore, after: os.loadavg()[0]},
        batch: BATCH,
        frames: FRAMES,
        workers,
        optimizer: 'LARS (Barlow Twins, two groups), lr 8/256',
      },
    }
  },
}
