/**
 * ONNX Runtime (onnxruntime-node, an optional dependency) for inference: one session per tower graph, every core in
 * the session's own thread pool. Execution providers: `cpu`, and the bundled `webgpu` (Dawn) where a GPU is present.
 */
import os from 'node:os'
import type * as Ort from 'onnxruntime-node'
import {gpuDevices} from '../backend/index.js'
import {UserError} from '../util/errors.js'
import {Graph} from './graph.js'

export const PROVIDERS = ['cpu', 'webgpu'] as const
export type Provider = (typeof PROVIDERS)[number]
export type Session = Ort.InferenceSession

let runtime: Promise<typeof Ort | undefined> | undefined

/** onnxruntime-node, or undefined where it is not installed (or its native library does not load). */
export function loadRuntime(): Promise<typeof Ort | undefined> {
  const specifier = 'onnxruntime-node' // in a variable: the package is optional
  runtime ??= import(specifier).then(
    (m: {default?: typeof Ort} & typeof Ort) => m.default ?? m,
    () => undefined,
  )
  return runtime
}

export async function requireRuntime(): Promise<typeof Ort> {
  const ort = await loadRuntime()
  if (!ort)
    throw new UserError('engine onnx needs onnxruntime-node: npm install onnxruntime-node (or choose --engine tfjs)')
  return ort
}

/** One line for stderr and reports, e.g. "onnxruntime-node 1.30.0, cpu, 2 threads". */
export async function describeRuntime(provider: Provider): Promise<string> {
  const ort = await requireRuntime()
  return `onnxruntime-node ${ort.env.versions?.node ?? '?'}, ${provider}${provider === 'cpu' ? `, ${os.availableParallelism()} threads` : ''}`
}

/** A session over a serialised graph or a graph file. A GPU provider that cannot start is a one-line UserError. */
export async function createSession(model: string | Uint8Array, provider: Provider): Promise<Session> {
  const ort = await requireRuntime()
  if (provider === 'webgpu' && gpuDevices().length === 0) throw new UserError(noGpu('onnxruntime webgpu'))
  try {
    return await ort.InferenceSession.create(model as Uint8Array, {
      executionProviders: [provider],
      intraOpNumThreads: os.availableParallelism(),
      graphOptimizationLevel: 'all',
      // Idle pool threads sleep instead of spinning: the mel stage's workers share these cores.
      extra: {session: {intra_op: {allow_spinning: '0'}}},
    })
  } catch (error) {
    if (provider === 'webgpu') throw new UserError(`onnxruntime webgpu could not start: ${firstLine(error)}`)
    throw error
  }
}

/** Fails fast, in one line, where `provider` cannot run here: a session over a one-node graph. */
export async function checkProvider(provider: Provider): Promise<void> {
  if (provider === 'cpu') return
  const g = new Graph('probe')
  const x = g.input('x', 'float32', [1])
  g.output(g.op('Add', [x, x]), 'float32', [1])
  await (await createSession(g.serialise(), provider)).release()
}

export function noGpu(what: string): string {
  return `${what} needs a GPU adapter, and this machine has none (no /dev/dri/renderD* or /dev/nvidia* device)`
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return message.split('\n')[0].replace(/^.*\.cc:\d+ /, '')
}
