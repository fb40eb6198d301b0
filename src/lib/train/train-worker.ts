/**
 * Worker-thread entry of data-parallel training (data-parallel.ts): a copy of the trainable towers on its own
 * backend. Per step: the weights from the shared buffer, its slice's embeddings sent out, then, still inside the
 * tape, a blocking wait for their gradient, and the weight gradients of sum(z * dL/dz) sent back.
 */
import {parentPort, receiveMessageOnPort, workerData, type MessagePort} from 'node:worker_threads'
import * as tf from '@tensorflow/tfjs-core'
import {selectBackend} from '../backend/index.js'
import type {ReplicaReply, ReplicaSpec, ReplicaTask} from './data-parallel.js'
import {registerGradients} from './gradients.js'
import {PairModel, trainableTowers} from './pair-model.js'
import type {TowerName} from './pair-table.js'

const spec = workerData as ReplicaSpec & {upstream: MessagePort}
const reply = (message: ReplicaReply, transfer: ArrayBuffer[] = []) => parentPort!.postMessage(message, transfer)
const signals = new Int32Array(spec.signals)
const weights = new Float32Array(spec.weights)

/** Blocks until the main thread posts this worker's embeddings' gradient (the tape cannot wait asynchronously). */
function receiveUpstream(): Float32Array[] {
  for (;;) {
    const seen = Atomics.load(signals, spec.index)
    const received = receiveMessageOnPort(spec.upstream)
    if (received) {
      if (received.message === null) throw new Error('step abandoned')
      return received.message as Float32Array[]
    }
    Atomics.wait(signals, spec.index, seen)
  }
}

async function start(): Promise<void> {
  await selectBackend(spec.backend)
  await registerGradients()
  const model = new PairModel(trainableTowers(spec.towers), {}, 0, spec.towers.audio?.config)
  for (const tower of Object.values(model.trainable)) tower.transformer.checkpointBlocks = spec.checkpointBlocks
  const parts = model
    .parameters()
    .flatMap((p) => p.parts)
    .filter((v) => v !== model.logitScale) as tf.Variable[]
  const offsets = parts.reduce((o, v, i) => [...o, o[i] + v.size], [0])
  reply({shapes: parts.map((v) => v.shape)})

  parentPort!.on('message', (task: ReplicaTask) => {
    try {
      parts.forEach((v, i) => tf.tidy(() => v.assign(tf.tensor(weights.slice(offsets[i], offsets[i + 1]), v.shape))))
      const towers = Object.keys(task) as TowerName[]
      const {value, grads} = tf.variableGrads(() => {
        const z = towers.map((t) => model.embed(t, task[t]!))
        const embeddings = z.map((e) => (e.dataSync() as Float32Array).slice())
        reply(
          {embeddings},
          embeddings.map((e) => e.buffer as ArrayBuffer),
        )
        const upstream = receiveUpstream()
        return tf.addN(z.map((e, k) => tf.sum(tf.mul(e, tf.tensor2d(upstream[k], e.shape))))) as tf.Scalar
      }, parts)
      const flat = new Float32Array(offsets[parts.length])
      parts.forEach((v, i) => grads[v.name] && flat.set(grads[v.name].dataSync() as Float32Array, offsets[i]))
      tf.dispose([value, ...Object.values(grads)])
      reply({grads: flat}, [flat.buffer])
    } catch (error) {
      reply({error: error instanceof Error ? error.message : String(error)})
    }
  })
}

start().catch((error: Error) => reply({error: error.message}))
