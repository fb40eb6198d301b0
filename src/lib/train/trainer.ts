/**
 * One contrastive trainer for every pair (docs/method.md §1.1, §6): VA pre-training (audio vs frozen image), AT fine-tuning
 * (audio vs frozen text) and a small image-text CLIP (both towers train). Every random draw is a function of
 * (seed, step), weights and optimiser moments are checkpointed exactly, so a resumed run ends where an
 * uninterrupted one does.
 */
import {appendFileSync} from 'node:fs'
import {mkdir, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import type {BackendName} from '../backend/index.js'
import {loadModelFile, type LoadedModel} from '../checkpoint/load.js'
import {writeVipantCheckpoint} from '../checkpoint/vipant-format.js'
import {resolveModel} from '../checkpoint/zoo.js'
import {AudioEncoder} from '../model/audio-encoder.js'
import {TextTransformer} from '../model/clip-text.js'
import {VisionTransformer} from '../model/clip-vision.js'
import {DEFAULT_MEL} from '../audio/mel-config.js'
import {UserError} from '../util/errors.js'
import {rngFor} from '../util/rng.js'
import {audioForFrames, audioFromClip} from './audio-init.js'
import {configYaml, type TrainConfig} from './config.js'
import {dataParallelStep} from './data-parallel.js'
import {evaluatePair, tfjsEngine, type EvalEngine} from './evaluate.js'
import {FRAME_EMBEDDINGS_FILE, keepFrameEmbeddings, reuseFrameEmbeddings} from './frame-embeddings.js'
import {ClipFrames, frameSourceOf} from './frame-source.js'
import {localStep, type GradientStep} from './gradient-step.js'
import {registerGradients} from './gradients.js'
import {METRICS_FILE} from './metrics-log.js'
import {onnxEngine} from './onnx-evaluation.js'
import {adam, lars, learningRate, type Optimizer} from './optimizer.js'
import {embedAll, PairModel, tensorValues, trainableTowers} from './pair-model.js'
import {readPairTable, towersOf, type Clip, type TowerName} from './pair-table.js'
import {MelFeeder} from './mel-feeder.js'
import {clipSize, randomClip} from './random-clip.js'
import {requireNewRun, saveSnapshot, type RunSnapshot, type TrainState} from './run-snapshot.js'
import {clipItem, clipRng, mergesLoneClip, permutation, Sampler, type Item, type ItemOptions} from './sampler.js'
import {plural} from '../util/plural.js'

/** One line of metrics.jsonl for a train step (key names are read by `vipant report`). */
export interface StepRecord {
  step: number
  epoch: number
  loss: number
  lr: number
  logit_scale: number
  grad_norm: number
  clips_per_s: number
  time: number
}

export interface TrainHooks {
  /** A line of news for stderr. */
  log(line: string): void
  onStep?(record: StepRecord, totalSteps: number): void
  /** Polled after every step: true once SIGINT/SIGTERM arrived; the run then checkpoints and returns. */
  shouldStop(): boolean
}

export interface TrainResult {
  config: TrainConfig
  steps: number
  interrupted: boolean
  checkpoint: string | null
  loss: number | null
  eval: Record<string, number> | null
}

/**
 * Starts a run in `config.out`, or with `resume` continues its latest checkpoint (whose config then rules), on the
 * active tfjs backend, `backend`.
 */
export async function train(
  config: TrainConfig,
  hooks: TrainHooks,
  resume: RunSnapshot | undefined,
  backend: BackendName,
): Promise<TrainResult> {
  await registerGradients()
  await mkdir(config.out, {recursive: true})
  if (!resume) await requireNewRun(config.out)
  const [left, right] = towersOf(config.pair)
  const precomputed: TowerName[] = config.pair === 'image-text' ? [] : [right]
  const table = await readPairTable(config.data, config.pair, precomputed, config.prompt)
  let clips = table.clips
  let val: Clip[] = []
  if (config.val) val = (await readPairTable(config.val, config.pair, precomputed, config.prompt)).clips
  else if (config.holdout > 0) {
    if (config.holdout >= clips.length)
      throw new UserError(`--holdout ${config.holdout} leaves no clips of ${clips.length} to train on`)
    val = clips.slice(clips.length - config.holdout)
    clips = clips.slice(0, clips.length - config.holdout)
  }
  if (config.fraction < 1) {
    const kept = permutation(clips.length, rngFor(config.seed, 'fraction')).slice(
      0,
      Math.max(1, Math.round(config.fraction * clips.length)),
    )
    clips = kept.sort((a, b) => a - b).map((i) => clips[i])
  }
  const features = table.onTheFly ? 'on-the-fly' : 'precomputed'
  if (left === 'audio' && config.features !== null && config.features !== features) {
    throw new UserError(
      `${config.data}: features: ${config.features} was asked, but the table ${table.onTheFly ? 'has no mel column (an index table: on-the-fly)' : 'holds log-mels (precomputed)'}`,
    )
  }
  if (left === 'audio') config.features = features
  if (left === 'audio' && right === 'image') {
    const source = frameSourceOf([...clips, ...val])
    if (config.frameSource !== null && config.frameSource !== source)
      throw new UserError(
        `${config.data}: frameSource: ${config.frameSource} was asked, but the frames come from ${source}`,
      )
    config.frameSource = source
  }
  // On the fly, log-mels are computed at the tower's length, as vipant mel --max-len would (its default without --frames).
  const frames = config.frames ?? table.melLength ?? (table.onTheFly ? DEFAULT_MEL.maxLen : 0)
  if (left === 'audio' && !table.onTheFly && (table.melLength === undefined || frames > table.melLength)) {
    throw new UserError(
      `${config.data}: log-mels of ${table.melLength} frames, the audio tower was asked for ${frames}`,
    )
  }
  const heldOut = config.val
    ? `validation: ${plural(val.length, 'clip')} from ${config.val}`
    : `held out: ${val.length}`
  hooks.log(
    `train: ${plural(clips.length, 'clip')} from ${config.data}${table.skipped ? ` (${plural(table.skipped, 'unusable row')} skipped)` : ''}; ${heldOut}`,
  )

  const model = await buildModel(
    config,
    frames,
    resume,
    needsFrozen(right, [...clips, ...val]) || (right === 'text' && val.length > 0),
  )
  for (const tower of Object.values(model.trainable))
    tower.transformer.checkpointBlocks = config.checkpointBlocks ?? 'auto'
  const options: ItemOptions = {frames, freqMask: config.freqMask, timeMask: config.timeMask}
  await precomputeFrozen(model, right, [...clips, ...val], hooks, config)
  const captionsOf = config.randomCaptions
    ? permutation(clips.length, rngFor(config.seed, 'random-captions'))
    : undefined

  if (clips.length < 2)
    throw new UserError(
      `${config.data}: ${clips.length} training clip${clips.length === 1 ? '' : 's'}: a contrastive batch needs at least 2 (each clip's negatives are the others)`,
    )
  const sampler = new Sampler(clips.length, config.batchSize, config.seed)
  const perEpoch = sampler.stepsPerEpoch
  if (mergesLoneClip(clips.length, config.batchSize)) {
    hooks.log(
      `${clips.length} clips at batch ${config.batchSize}: each epoch's last clip joins the batch before it (${config.batchSize + 1} clips), since alone it has no negatives`,
    )
  }
  const schedule = {
    peak: config.optimizer === 'lars' ? config.batchSize / 256 : config.lr,
    warmupSteps: config.warmupEpochs * perEpoch,
    totalSteps: config.epochs * perEpoch,
  }
  const optimizer: Optimizer =
    config.optimizer === 'lars'
      ? lars({
          weightDecay: config.weightDecay,
          momentum: config.momentum,
          eta: config.eta,
          lrWeight: config.lrWeight,
          lrBias: config.lrBias,
        })
      : adam()
  const params = model.parameters()
  const variables = params.flatMap((p) => p.parts) as tf.Variable[]
  config.workers ??= defaultWorkers(backend, config.batchSize, model, frames)
  const state: TrainState = resume ? {...resume.state} : {step: 0, epoch: 0, time: 0, seed: config.seed, counters: {}}
  if (resume) optimizer.load(params, resume.optimizer, resume.state.counters)
  else await writeFile(path.join(config.out, 'train.yaml'), configYaml(config))

  const endStep = Math.min(config.steps ?? Infinity, config.epochs * perEpoch)
  const metricsFile = path.join(config.out, METRICS_FILE)
  let lastSnapshot: string | null = resume?.dir ?? null
  let savedStep = state.step
  let lastLoss: number | null = null
  let lastEval: Record<string, number> | null = null
  const save = async () => {
    state.counters = optimizer.state(params).counters
    const source = {run: path.resolve(config.out), step: state.step, pair: config.pair}
    lastSnapshot = await saveSnapshot(
      config.out,
      model.checkpoint(source),
      optimizer.state(params).tensors,
      state,
      config,
      config.keep,
    )
    savedStep = state.step
  }
  let evalEngine: EvalEngine | undefined
  const evaluate = async () => {
    if (!evalEngine) {
      evalEngine = (await onnxEngine(model)) ?? tfjsEngine(model)
      hooks.log(`eval: ${evalEngine.name}`)
    }
    const {embed, close} = await evalEngine.open()
    try {
      lastEval = await evaluatePair(embed, val, [left, right], {...options, prompt: config.prompt})
    } finally {
      await close()
    }
    appendFileSync(metricsFile, `${JSON.stringify({step: state.step, eval: lastEval})}\n`)
    hooks.log(
      `eval at step ${state.step}: ${Object.entries(lastEval)
        .map(([k, v]) => `${k} ${v.toFixed(1)}`)
        .join(', ')}`,
    )
  }

  let gradientStep: GradientStep | undefined
  const feeder = table.onTheFly ? new MelFeeder(frames, config.seed, featureWorkers()) : undefined
  try {
    if (feeder) {
      hooks.log(
        `features: on the fly, log-mels of ${frames} frames from the audio files (as vipant mel), a fresh random crop each step`,
      )
      await feeder.hold(val)
    }
    // No batch has more clips than the table: workers beyond that would start, build their towers and idle. The slices,
    // and so the sums, are those of config.workers (a batch is split min(batch, workers) ways either way).
    const workers = Math.min(config.workers, clips.length)
    if (workers > 1) hooks.log(`data-parallel: ${workers} worker threads, each with a copy of the trainable towers`)
    gradientStep =
      workers > 1
        ? await dataParallelStep(model, variables, workers, {
            backend,
            checkpointBlocks: config.checkpointBlocks ?? 'auto',
          })
        : localStep(model, variables)
    // On the fly, the next step's log-mels are computed in worker threads while this step trains.
    const fetch = (step: number) =>
      feeder && step < endStep ? feeder.batch(clips, sampler.batch(step).indices, step) : undefined
    let prefetched = fetch(state.step)
    while (state.step < endStep) {
      const started = performance.now()
      const step = state.step
      const mels = await prefetched
      prefetched = fetch(step + 1)
      const {epoch, indices} = sampler.batch(step)
      const leftItems: Item[] = []
      const rightItems: Item[] = []
      for (const i of indices) {
        const rng = clipRng(config.seed, step, i)
        leftItems.push(clipItem(mels ? {...clips[i], mel: mels.get(i)} : clips[i], left, options, rng))
        rightItems.push(clipItem(clips[captionsOf ? captionsOf[i] : i], right, options, rng))
      }
      const lr = learningRate(step, schedule)
      const {loss, grads} = await gradientStep.run({towers: [left, right], items: [leftItems, rightItems]})
      const gradNorm = tf.tidy(
        () => tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g))))).dataSync()[0],
      )
      if (!Number.isFinite(loss)) {
        tf.dispose([...grads.values()])
        throw new UserError(
          `loss is ${loss} at step ${step + 1}: stopped; the last good checkpoint is ${lastSnapshot ?? 'none (no checkpoint yet)'}`,
        )
      }
      optimizer.apply(params, grads, lr)
      tf.dispose([...grads.values()])
      state.step = step + 1
      state.epoch = epoch
      const seconds = (performance.now() - started) / 1000
      state.time += seconds
      lastLoss = loss
      const record: StepRecord = {
        step: state.step,
        epoch,
        loss,
        lr,
        logit_scale: model.logitScale.dataSync()[0],
        grad_norm: gradNorm,
        clips_per_s: indices.length / seconds,
        time: state.time,
      }
      appendFileSync(metricsFile, `${JSON.stringify(record)}\n`)
      hooks.onStep?.(record, endStep)
      const stopping = hooks.shouldStop()
      if (val.length > 0 && (state.step % config.evalEvery === 0 || state.step === endStep)) await evaluate()
      if (
        stopping ||
        state.step % config.checkpointEvery === 0 ||
        state.step % perEpoch === 0 ||
        state.step === endStep
      )
        await save()
      if (stopping)
        return {config, steps: state.step, interrupted: true, checkpoint: lastSnapshot, loss: lastLoss, eval: lastEval}
    }
    if (savedStep !== state.step || lastSnapshot === null) await save()
    return {config, steps: state.step, interrupted: false, checkpoint: lastSnapshot, loss: lastLoss, eval: lastEval}
  } finally {
    await gradientStep?.close()
    await feeder?.close()
    optimizer.dispose()
    model.dispose()
  }
}

/**
 * Threads computing log-mels on the fly: all cores but the one the step's own thread keeps busy. On CPU a ViT-B/32
 * step outlasts its batch's log-mels by orders of magnitude, so data-parallel workers sharing the cores lose little;
 * a GPU step does not (docs/audioset-scale.md sizes the cores it needs).
 */
function featureWorkers(): number {
  return Math.max(1, os.availableParallelism() - 1)
}

/** Multiply-adds per clip in the blocks of the trainable towers below which data-parallel workers do not pay. */
const WORKER_MIN_MACS = 1e8

/**
 * Workers by default: one per core on the single-threaded backends, wasm and cpu, once a clip costs the trainable
 * towers' blocks over WORKER_MIN_MACS (12 width^2 per token and layer). Below that a step is bound by per-operation
 * overhead, and the exchange costs more than it saves: measured, a width-64 1-layer audio tower on 64 frames took 2x
 * longer per step in two workers, a width-256 4-layer one on 1000 frames 2.2x less. Never more than a batch's clips,
 * nor than free memory holds at a wasm heap's most (4 GiB) each.
 */
function defaultWorkers(backend: BackendName, batchSize: number, model: PairModel, frames: number): number {
  if (backend !== 'wasm' && backend !== 'cpu') return 1
  const {audio, image, text} = model.trainable as {
    audio?: AudioEncoder
    image?: VisionTransformer
    text?: TextTransformer
  }
  const tokens = (tower: AudioEncoder | VisionTransformer | TextTransformer) => {
    if (tower instanceof AudioEncoder) {
      const [rows, columns] = tower.grid(frames)
      return 1 + rows * columns
    }
    return tower instanceof VisionTransformer ? 1 + tower.grid ** 2 : tower.contextLength
  }
  const macs = [audio, image, text].reduce(
    (sum, tower) => sum + (tower ? 12 * tower.width ** 2 * tower.transformer.layers * tokens(tower) : 0),
    0,
  )
  return macs < WORKER_MIN_MACS
    ? 1
    : Math.max(1, Math.min(os.availableParallelism(), batchSize, Math.floor(os.freemem() / 2 ** 32)))
}

/** Whether some clip lacks the frozen tower's precomputed embeddings, so the tower must run. */
function needsFrozen(tower: TowerName, clips: readonly Clip[]): boolean {
  return clips.some((c) => (tower === 'image' ? c.frameEmb === undefined : c.captionEmb === undefined))
}

/** Clips whose frames or captions one pass embeds: frames are read from disk on demand, so only a pass's are in memory. */
const CLIPS_PER_PASS = 64

/**
 * Runs the frozen tower once over every frame or caption that has no precomputed embedding; the next clips' frames
 * are read, or cut from their videos, while a pass embeds. The embeddings of frame files and videos are kept in the
 * run directory, so a resumed run does not compute them again.
 */
async function precomputeFrozen(
  model: PairModel,
  tower: TowerName,
  clips: readonly Clip[],
  hooks: TrainHooks,
  config: TrainConfig,
): Promise<void> {
  if (model.trainable[tower] || !model.frozen[tower]) return
  if (tower === 'image') {
    const reused = await reuseFrameEmbeddings(config, clips)
    if (reused > 0) hooks.log(`frame embeddings of ${plural(reused, 'clip')} read from ${FRAME_EMBEDDINGS_FILE}`)
  }
  const missing = clips.filter((c) => (tower === 'image' ? c.frameEmb : c.captionEmb) === undefined)
  if (missing.length === 0) return
  const {videoFrames} = config
  const videos = missing.filter((c) => c.videoPath !== undefined).length
  const cut = videos
    ? `; ${videos} cut from their videos, ${videoFrames} frames each, as vipant mel --frames ${videoFrames}`
    : ''
  hooks.log(
    `embedding the ${tower === 'image' ? 'frames' : 'captions'} of ${plural(missing.length, 'clip')} with the frozen ${tower} tower${tower === 'image' ? ' (vipant embed --tower image does it once for every run)' : ''}${cut}`,
  )
  const frames = tower === 'image' ? new ClipFrames(videoFrames, hooks.log) : undefined
  let pass: Clip[] = []
  let inputs: Item[][] = []
  let next = 0
  const embed = async () => {
    const vectors = await embedAll((chunk) => tensorValues(model.embedFrozen(tower, chunk)), inputs.flat())
    let at = 0
    pass.forEach((clip, k) => {
      const embedded = vectors.slice(at, (at += inputs[k].length))
      if (tower === 'image') {
        clip.frameEmb = embedded
        clip.frames = undefined
      } else clip.captionEmb = embedded
    })
    pass = []
    inputs = []
  }
  try {
    for await (const items of frames ? frames.each(missing) : missing.map((c) => c.captions!)) {
      pass.push(missing[next++])
      inputs.push(items)
      if (pass.length === CLIPS_PER_PASS) await embed()
    }
    if (pass.length > 0) await embed()
  } finally {
    await frames?.close()
  }
  if (frames) await keepFrameEmbeddings(config, clips)
}

/**
 * The towers: trainable from the checkpoint when resuming, else from `init` (a CLIP, the audio tower then built
 * from its image tower, §5.4; or an audio checkpoint, §5.5), else from a random CLIP of size `model`, which is
 * written to RUN/init-clip and becomes `clip`, the frozen towers' source.
 */
async function buildModel(
  config: TrainConfig,
  frames: number,
  resume: RunSnapshot | undefined,
  frozenNeeded: boolean,
): Promise<PairModel> {
  const load = async (name: string) => loadModelFile(await resolveModel(name))
  let start: LoadedModel
  if (resume) start = await loadModelFile(resume.dir)
  else if (config.init) start = await load(config.init)
  else {
    const clip = randomClip(await clipSize(config.model), config.seed)
    const dir = path.join(config.out, 'init-clip')
    await writeVipantCheckpoint(dir, {
      format: 'vipant',
      clip,
      info: {source: {format: 'random', file: '', model: config.model, seed: config.seed}},
    })
    start = {format: 'vipant', clip, info: {}}
    config.clip ??= dir
  }
  const [left, right] = towersOf(config.pair)
  let trainable: PairModel['trainable']
  const frozen: PairModel['frozen'] = {}
  let audioConfig
  if (left === 'audio') {
    if (!start.audio && !start.clip)
      throw new UserError(`${config.init}: holds neither an audio tower nor a CLIP image tower to start from`)
    const audio = start.audio ? audioForFrames(start.audio, frames) : audioFromClip(start.clip!, frames)
    trainable = trainableTowers({audio})
    audioConfig = audio.config
    if (frozenNeeded) {
      const clip = (await frozenSource(config, resume ? undefined : start, load)).clip
      if (!clip) throw new UserError(`${config.clip}: holds no CLIP ${right} tower`)
      frozen[right] = right === 'image' ? VisionTransformer.fromStateDict(clip) : TextTransformer.fromStateDict(clip)
    }
  } else {
    if (!start.clip) throw new UserError(`${config.init}: holds no CLIP to train`)
    trainable = trainableTowers({clip: start.clip})
  }
  const logitScale = resume ? start.logitScale! : config.logitScale
  return new PairModel(trainable, frozen, logitScale, audioConfig)
}

/** The CLIP of the frozen tower: `clip`, else `init` when it is a CLIP, else OpenAI's ViT-B/32. */
async function frozenSource(
  config: TrainConfig,
  init: LoadedModel | undefined,
  load: (name: string) => Promise<LoadedModel>,
): Promise<LoadedModel> {
  if (config.clip) return load(config.clip)
  if (config.init) {
    const model = init ?? (await load(config.init))
    if (model.clip) return model
  }
  return load('clip-vit-b32')
}
