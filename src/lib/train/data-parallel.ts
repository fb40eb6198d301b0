/**
 * Data-parallel training steps across worker threads, as PyTorch's DistributedDataParallel does across processes:
 * tfjs runs wasm on one thread under Node, so this is how a step uses every core. Each worker holds a copy of the
 * trainable towers and takes a contiguous slice of the batch. The contrastive loss pairs every clip with every
 * other, so a step runs in three exchanges:
 *   1. each worker embeds its slice, keeping its tape, and sends the embeddings here;
 *   2. this thread takes the loss over the whole batch and its gradient with respect to every embedding and the
 *      logit scale, and sends each worker the rows of its slice;
 *   3. each worker back-propagates them through its tape (the gradient of sum(z * dL/dz)) and sends its weight
 *      gradients back; they are summed here in worker order.
 * The sum is the whole batch's gradient up to float summation order: runs with the same worker count are
 * identical, runs with different counts agree to float precision. Weights and the optimiser stay in this thread
 * (checkpoints read them here) and reach the workers through one shared buffer before every step.
 */
import {MessageChannel, Worker} from 'node:worker_threads'
import * as tf from '@tensorflow/tfjs-core'
import type {BackendName} from '../backend/index.js'
import type {LoadedModel} from '../checkpoint/load.js'
import type {Checkpointing} from '../model/transformer.js'
import {UserError} from '../util/errors.js'
import {forwardStderr, PIPED_STDERR} from '../util/notes.js'
import type {GradientStep, StepInputs} from './gradient-step.js'
import {contrastiveLoss} from './loss.js'
import type {Gradients} from './optimizer.js'
import type {PairModel} from './pair-model.js'
import type {TowerName} from './pair-table.js'
import type {Item} from './sampler.js'

/** What a worker starts from (workerData of train-worker.ts). */
export interface ReplicaSpec {
  backend: BackendName
  checkpointBlocks: Checkpointing
  /** The trainable towers' architecture and first weights, in vipant's layout. */
  towers: Pick<LoadedModel, 'audio' | 'clip'>
  /** Float32 weights of every trainable part, end to end in parameter order, written here before each step. */
  weights: SharedArrayBuffer
  /** One Int32 per worker, bumped when its embeddings' gradient has been posted on `upstream`. */
  signals: SharedArrayBuffer
  index: number
}

/** A worker's messages: built (its parts' shapes), a slice's embeddings, its weight gradients, or a failure. */
export type ReplicaReply = {shapes: number[][]} | {embeddings: Float32Array[]} | {grads: Float32Array} | {error: string}

/** The step a worker runs: its slice of each trainable tower's inputs. */
export type ReplicaTask = Partial<Record<TowerName, Item[]>>

/** Starts `workers` replicas of the model's trainable towers; resolves once every one is built and agrees on its parts. */
export async function dataParallelStep(
  model: PairModel,
  variables: tf.Variable[],
  workers: number,
  options: {backend: BackendName; checkpointBlocks: Checkpointing},
): Promise<GradientStep> {
  const parts = variables.filter((v) => v !== model.logitScale)
  const offsets = parts.reduce((o, v, i) => [...o, o[i] + v.size], [0])
  const weights = new Float32Array(new SharedArrayBuffer(4 * offsets[parts.length]))
  const signals = new Int32Array(new SharedArrayBuffer(4 * workers))
  const {audio, clip} = model.checkpoint({})
  const replicas = Array.from(
    {length: workers},
    (_, index) =>
      new Replica(
        {
          ...options,
          towers: {audio, clip},
          weights: weights.buffer as SharedArrayBuffer,
          signals: signals.buffer as SharedArrayBuffer,
          index,
        },
        signals,
      ),
  )
  const stopAll = () => replicas.forEach((r) => r.stop())
  try {
    for (const reply of await Promise.all(replicas.map((r) => r.expect('shapes')))) {
      if (reply.shapes.map(String).join(';') !== parts.map((v) => v.shape.join()).join(';'))
        throw new Error('a worker built towers of other shapes')
    }
  } catch (error) {
    await Promise.all(replicas.map((r) => r.worker.terminate()))
    throw error
  }

  return {
    async run({towers, items}: StepInputs) {
      parts.forEach((v, i) => weights.set(v.dataSync() as Float32Array, offsets[i]))
      const batch = items[0].length
      const trained = towers.filter((t) => model.trainable[t])
      const slices = sliceBatch(batch, workers)
      const active = replicas.slice(0, slices.length)
      try {
        active.forEach((r, w) => {
          const task: ReplicaTask = Object.fromEntries(
            trained.map((t) => [t, copies(items[towers.indexOf(t)].slice(...slices[w]))]),
          )
          r.worker.postMessage(task)
        })
        const embedded = (await Promise.all(active.map((r) => r.expect('embeddings')))).map((e) => e.embeddings)
        // Both sides over the whole batch: a trainable tower's slices in worker order, a frozen one's stored rows.
        const sides = towers.map((t, k) => {
          const values = model.trainable[t]
            ? concat(embedded.map((e) => e[trained.indexOf(t)]))
            : concat(items[k] as Float32Array[])
          return tf.tensor2d(values, [batch, values.length / batch]) // shape = [B, E]
        })
        const {value, grads} = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor, s: tf.Tensor) =>
          contrastiveLoss(a as tf.Tensor2D, b as tf.Tensor2D, s as tf.Scalar),
        )([...sides, model.logitScale])
        const loss = value.dataSync()[0]
        const upstream = towers.map((_, k) => grads[k].dataSync() as Float32Array)
        active.forEach((r, w) => {
          const [start, end] = slices[w]
          r.send(
            trained.map((t) => {
              const k = towers.indexOf(t)
              const dim = sides[k].shape[1]
              return upstream[k].slice(start * dim, end * dim)
            }),
          )
        })
        const logitScaleGrad = grads[2]
        tf.dispose([value, grads[0], grads[1], ...sides])
        const summed = (await Promise.all(active.map((r) => r.expect('grads'))))
          .map((g) => g.grads)
          .reduce((sum, g) => {
            for (let i = 0; i < sum.length; i++) sum[i] += g[i]
            return sum
          })
        const out: Gradients = new Map(
          parts.map((v, i) => [v, tf.tensor(summed.subarray(offsets[i], offsets[i + 1]), v.shape)]),
        )
        out.set(model.logitScale, logitScaleGrad)
        return {loss, grads: out}
      } catch (error) {
        stopAll()
        throw error
      }
    },
    close: async () => {
      stopAll()
      await Promise.all(replicas.map((r) => r.worker.terminate()))
    },
  }
}

/** Contiguous [start, end) slices of a batch, as even as can be, none empty. */
export function sliceBatch(batch: number, workers: number): [number, number][] {
  const n = Math.min(batch, workers)
  return Array.from({length: n}, (_, w) => [Math.floor((w * batch) / n), Math.floor(((w + 1) * batch) / n)])
}

/** Items as they cross to a worker: a view would carry its whole buffer, so arrays go as copies. */
function copies(items: Item[]): Item[] {
  return items.map((x) => (typeof x === 'string' ? x : x.slice()))
}

function concat(arrays: Float32Array[]): Float32Array {
  const out = new Float32Array(arrays.reduce((n, a) => n + a.length, 0))
  let at = 0
  for (const a of arrays) {
    out.set(a, at)
    at += a.length
  }
  return out
}

/** One worker thread and the channel on which it receives its embeddings' gradient while it waits inside its tape. */
class Replica {
  readonly worker: Worker
  private readonly upstream = new MessageChannel()
  private readonly inbox: ReplicaReply[] = []
  private waiting: ((reply: ReplicaReply) => void) | undefined

  private readonly index: number

  constructor(
    spec: ReplicaSpec,
    private readonly signals: Int32Array,
  ) {
    this.index = spec.index
    this.worker = new Worker(new URL('./train-worker.js', import.meta.url), {
      workerData: {...spec, upstream: this.upstream.port2},
      transferList: [this.upstream.port2],
      ...PIPED_STDERR,
    })
    forwardStderr(this.worker)
    this.worker.on('message', (reply: ReplicaReply) => this.deliver(reply))
    this.worker.on('error', (error) => this.deliver({error: error.message}))
    this.worker.on('exit', (code) => this.deliver({error: `a training worker exited (code ${code})`}))
  }

  /** The next reply, which must be of the given kind; a worker's failure becomes a one-line UserError. */
  async expect<K extends 'shapes' | 'embeddings' | 'grads'>(
    kind: K,
  ): Promise<Extract<ReplicaReply, Record<K, unknown>>> {
    const reply = this.inbox.shift() ?? (await new Promise<ReplicaReply>((resolve) => (this.waiting = resolve)))
    if ('error' in reply) throw new UserError(`training worker ${this.index}: ${reply.error}`)
    if (!(kind in reply))
      throw new Error(`training worker ${this.index} sent ${Object.keys(reply)[0]}, expected ${kind}`)
    return reply as Extract<ReplicaReply, Record<K, unknown>>
  }

  /** Hands the worker, blocked inside its tape, the gradient of its embeddings (null: give up the step). */
  send(upstream: Float32Array[] | null): void {
    this.upstream.port1.postMessage(upstream)
    Atomics.add(this.signals, this.index, 1)
    Atomics.notify(this.signals, this.index)
  }

  stop(): void {
    this.send(null)
  }

  private deliver(reply: ReplicaReply): void {
    const waiting = this.waiting
    this.waiting = undefined
    if (waiting) waiting(reply)
    else this.inbox.push(reply)
  }
}
