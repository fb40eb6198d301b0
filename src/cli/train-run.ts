import {createWriteStream, existsSync} from 'node:fs'
import {mkdir, rm} from 'node:fs/promises'
import path from 'node:path'
import {pipeline} from 'node:stream/promises'
import {Flags} from './oclif.js'
import {progress} from '../lib/util/progress.js'
import {BACKENDS, selectBackend} from '../lib/backend/index.js'
import {readConfigFile, resolveConfig, type TrainConfig} from '../lib/train/config.js'
import {latestSnapshot, requireNewRun, type RunSnapshot} from '../lib/train/run-snapshot.js'
import {train, type TrainResult} from '../lib/train/trainer.js'
import {atomicWrite} from '../lib/util/atomic-write.js'
import {UserError} from '../lib/util/errors.js'

/** What --help of every training command says of its worker threads. */
export const WORKERS_HELP =
  "On wasm and cpu (one thread each under Node) a step is split over worker threads, one per core for towers large enough to gain (--workers): each embeds and back-propagates a slice of the batch, the loss is taken over the whole batch, so the gradient is the batch's."

/** Flags every training command shares. Defaults live in the config (lib/train/config.ts) so --config can set them. */
export const trainFlags = {
  config: Flags.string({description: 'YAML file of settings (flag names or camelCase keys); flags given override it'}),
  out: Flags.string({char: 'o', description: 'run directory: checkpoints/, metrics.jsonl, train.yaml'}),
  init: Flags.string({description: 'weights to start from: a CLIP (clip-vit-b32 or a path) or an audio checkpoint'}),
  clip: Flags.string({
    description: 'CLIP supplying the frozen tower (default: --init when it is a CLIP, else clip-vit-b32)',
  }),
  model: Flags.string({
    description: 'without --init: a random CLIP of this size, tiny | vit-b32 | FILE.yaml [default: vit-b32]',
  }),
  val: Flags.string({description: 'held-out table evaluated every --eval-every steps'}),
  holdout: Flags.integer({
    description: 'hold out this many rows from the end of the training table instead of --val',
    min: 0,
  }),
  seed: Flags.integer({description: 'seed of every random draw [default: 1213]'}),
  frames: Flags.integer({
    description: "audio tower input frames; fewer than the table's gives random crops [default: the table's]",
    min: 32,
  }),
  'batch-size': Flags.integer({description: 'clips per step (negatives per clip + 1) [default: 432]', min: 2}),
  epochs: Flags.integer({description: 'LR schedule horizon and run length [default: 1000]', min: 1}),
  steps: Flags.integer({
    description: 'stop after this many steps in all (resume continues to it); 0 saves the starting weights as step 0',
    min: 0,
  }),
  optimizer: Flags.string({description: 'lars or adam [default: lars]', options: ['lars', 'adam']}),
  lr: Flags.string({description: "Adam's peak learning rate [default: 5e-4] (LARS: batch-size/256)"}),
  'lr-weight': Flags.string({description: 'LARS lr multiplier of weights (ndim >= 2) [default: 0.2]'}),
  'lr-bias': Flags.string({
    description: 'LARS lr multiplier of biases, norms, class embedding, logit scale [default: 0.0048]',
  }),
  'warmup-epochs': Flags.integer({description: 'linear LR warm-up [default: 10]', min: 0}),
  'weight-decay': Flags.string({description: 'LARS weight decay of weights [default: 1e-6]'}),
  momentum: Flags.string({description: '[default: 0.9]'}),
  eta: Flags.string({description: 'LARS trust coefficient [default: 0.001]'}),
  'logit-scale': Flags.string({description: 'initial s of exp(s)·cos [default: ln(1/0.07) = 2.659]'}),
  'freq-mask': Flags.integer({description: 'SpecAugment frequency mask width, 0 = off [default: 32]', min: 0}),
  'time-mask': Flags.integer({description: 'SpecAugment time mask width, 0 = off [default: 200]', min: 0}),
  'checkpoint-every': Flags.integer({
    description: 'checkpoint every N steps (and at every epoch end) [default: 1000]',
    min: 1,
  }),
  keep: Flags.integer({description: 'checkpoints kept [default: 3]', min: 1}),
  'checkpoint-blocks': Flags.boolean({
    allowNo: true,
    description:
      'recompute each transformer block in the backward pass: far less memory, about a third more compute [default: on when a step would keep over 1 GB of activations]',
  }),
  workers: Flags.integer({
    description:
      'worker threads, each training on a slice of every batch (data parallelism) [default: one per core on wasm/cpu for towers large enough to gain, else 1]',
    min: 1,
  }),
  'eval-every': Flags.integer({description: 'evaluate the held-out clips every N steps [default: 1000]', min: 1}),
  resume: Flags.boolean({
    description:
      'continue the run in --out from its latest checkpoint, exactly (its saved config rules; --steps may extend it, --workers change it)',
  }),
  backend: Flags.string({description: 'TensorFlow.js backend (default: the best present)', options: [...BACKENDS]}),
  json: Flags.boolean({description: 'print the result as JSON'}),
}

type FlagValues = {[K in keyof typeof trainFlags]?: unknown} & Record<string, unknown>

const NUMERIC = ['lr', 'lr-weight', 'lr-bias', 'weight-decay', 'momentum', 'eta', 'logit-scale', 'fraction']

/** The config fields the flags give (numbers given as text, so 1e-6 parses), leaving the rest undefined. */
function flagLayer(flags: FlagValues, data: string | undefined): Partial<TrainConfig> {
  const layer: Record<string, unknown> = {data}
  for (const [name, value] of Object.entries(flags)) {
    if (value === undefined || ['config', 'resume', 'backend', 'json'].includes(name)) continue
    const key = name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
    if (NUMERIC.includes(name)) {
      const n = Number(value)
      if (!Number.isFinite(n)) throw new UserError(`--${name}: not a number: ${value}`)
      layer[key] = n
    } else layer[key] = value
  }
  return layer as Partial<TrainConfig>
}

/** Where a run keeps a training table that was piped in. */
export const PIPED_TABLE = 'input.arrow'

/**
 * A training table piped in (no DATA, or "-") is kept in the run directory, so that --resume can read it again: the
 * run's config names that copy.
 */
async function keepPipedTable(out: string): Promise<string> {
  if (process.stdin.isTTY)
    throw new UserError(`no training table: name a file, or pipe one in (vipant mel DIR | vipant pretrain -o ${out})`)
  await requireNewRun(out)
  await mkdir(out, {recursive: true})
  const file = path.resolve(out, PIPED_TABLE) // absolute: --resume may run from another directory
  await atomicWrite(file, (temp) => pipeline(process.stdin, createWriteStream(temp)))
  return file
}

/** Flags a resumed run takes; every other setting is the run's own, from its checkpoint. */
const RESUME_FLAGS = ['out', 'resume', 'steps', 'workers', 'backend', 'json']

/**
 * A resumed run's config: the checkpoint's, with --steps (extend the run) and --workers (another machine) taken.
 * Another worker count sums gradients in another order, so the run then continues close to, not bit for bit as,
 * an uninterrupted one: said on stderr, as is every flag given that the saved config overrules.
 */
function resumedConfig(command: string, saved: TrainConfig, flags: FlagValues): TrainConfig {
  const ignored = Object.keys(flags).filter((name) => flags[name] !== undefined && !RESUME_FLAGS.includes(name))
  if (ignored.length > 0)
    process.stderr.write(
      `${command}: ignored with --resume (the run's saved config rules): ${ignored.map((name) => `--${name}`).join(' ')}\n`,
    )
  const config = {...saved}
  if (flags.steps !== undefined) config.steps = flags.steps as number
  if (flags.workers !== undefined && flags.workers !== saved.workers) {
    process.stderr.write(
      `${command}: --workers ${flags.workers} (the run had ${saved.workers ?? 'the default'}): the gradients sum in another order, so the run goes on close to, not bit for bit as, an uninterrupted one\n`,
    )
    config.workers = flags.workers as number
  }
  return config
}

/**
 * Runs a training command: resolves the config, starts the backend, trains with a progress bar on a TTY, and
 * turns SIGINT/SIGTERM into "checkpoint, then exit" (130/143).
 */
export async function runTraining(
  command: string,
  fixed: Partial<TrainConfig>,
  flags: FlagValues,
  data: string | undefined,
): Promise<{result: TrainResult; signal: NodeJS.Signals | null}> {
  const layers = [flags.config ? await readConfigFile(flags.config as string) : {}, fixed, flagLayer(flags, data)]
  if (flags.resume) {
    const out = Object.assign({}, ...layers).out as string | undefined
    if (!out) throw new UserError('--resume needs --out, the run directory to continue')
    const resumed = await latestSnapshot(out)
    if (!resumed) throw new UserError(`${out}: no checkpoint to resume from`)
    return startTraining(command, resumedConfig(command, resumed.config, flags), flags, resumed)
  }
  const [file, fixedLayer, flagged] = layers
  const out = flagged.out ?? fixedLayer.out ?? file.out
  const piped = (data === undefined || data === '-') && !(fixedLayer.data ?? file.data)
  if (!piped || !out) return startTraining(command, resolveConfig(...layers), flags)
  const created = !existsSync(out)
  flagged.data = await keepPipedTable(out)
  try {
    return await startTraining(command, resolveConfig(...layers), flags)
  } catch (error) {
    // A run that fails before its first checkpoint leaves nothing behind: neither the spooled table nor the directory.
    if (!(await latestSnapshot(out).catch(() => undefined)))
      await (created ? rm(out, {recursive: true, force: true}) : rm(flagged.data, {force: true}))
    throw error
  }
}

async function startTraining(
  command: string,
  config: TrainConfig,
  flags: FlagValues,
  resumed?: RunSnapshot,
): Promise<{result: TrainResult; signal: NodeJS.Signals | null}> {
  const backend = await selectBackend(flags.backend as string | undefined)
  process.stderr.write(`${backend.description}\n`)
  let signal: NodeJS.Signals | null = null
  const onSignal = (s: NodeJS.Signals) => {
    if (signal) process.exit(s === 'SIGINT' ? 130 : 143) // a second signal: stop now
    signal = s
    process.stderr.write(`\n${command}: ${s}: saving a checkpoint after this step\n`)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  let bar: ReturnType<typeof progress> | undefined
  try {
    const result = await train(
      config,
      {
        log: (line) => process.stderr.write(`${line}\n`),
        onStep: (r, total) => {
          bar ??= progress(command, Number.isFinite(total) ? total - r.step + 1 : undefined)
          bar.tick({
            detail: `step ${r.step} loss ${r.loss.toFixed(4)} lr ${r.lr.toExponential(2)} ${r.clips_per_s.toFixed(1)} clips/s`,
          })
        },
        shouldStop: () => signal !== null,
      },
      resumed,
      backend.name,
    )
    return {result, signal}
  } finally {
    bar?.stop()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

export function renderResult(result: TrainResult, json: boolean): string {
  if (json) return `${JSON.stringify(result, null, 2)}\n`
  const lines = [
    `${result.interrupted ? 'interrupted' : 'done'} at step ${result.steps}${result.loss === null ? '' : `, loss ${result.loss.toFixed(4)}`}`,
    `checkpoint: ${result.checkpoint}`,
  ]
  if (result.eval)
    lines.push(
      `eval: ${Object.entries(result.eval)
        .map(([k, v]) => `${k} ${v.toFixed(2)}`)
        .join(', ')}`,
    )
  if (result.interrupted) lines.push(`continue with: --out ${result.config.out} --resume`)
  return `${lines.join('\n')}\n`
}
