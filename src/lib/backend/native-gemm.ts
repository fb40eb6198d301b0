/**
 * Matrix products on ONNX Runtime's MLAS (onnxruntime-node, an optional dependency) for the wasm backend's
 * BatchMatMul kernel (wasm-kernels.ts): FMA kernels with AVX2's 256-bit vectors (or wider), 50-63 GFLOP/s per core on
 * a ViT-B block's products where XNNPACK in wasm (128-bit SIMD) reaches 19-25 (docs/performance.md).
 *
 * tfjs kernels are synchronous. onnxruntime-node's public `session.run` returns a promise, but only defers, with
 * setImmediate, a synchronous call into its native binding (dist/binding.js, `InferenceSession.run`), which runs
 * the graph on the calling thread when the session has one intra-op thread. Calling the binding directly keeps the
 * product in the kernel's own thread: no helper thread to start, keep alive or stop; no copies of the operands,
 * which ORT reads in place from the wasm heap; the result written in place into the kernel's output (a pre-allocated
 * output). Each data-parallel worker thread loads its own sessions, as it has its own wasm heap.
 *
 * The binding is loaded on the first product large enough, with `require` (synchronous, as the kernel is), and
 * checked on a small product. Where it is missing or the check fails (a later onnxruntime-node moved its internals),
 * one note says so and every product stays on XNNPACK.
 *
 * Settings, from the environment (worker threads inherit it):
 * - VIPANT_GEMM=xnnpack keeps products on XNNPACK; read at every product, so that a benchmark or a test can compare
 *   both in one process;
 * - VIPANT_GEMM_THREADS (default 1), read when the binding loads: ORT's intra-op threads per product. One keeps
 *   the thread per core that the data-parallel workers are sized for; more help a single-thread command on a
 *   machine with idle cores.
 */
import {createRequire} from 'node:module'
import onnxProto from 'onnx-proto'
import type * as Ort from 'onnxruntime-node'
import {UserError} from '../util/errors.js'
import {note} from '../util/notes.js'

/** The parts of onnxruntime-node's native binding used here (onnxruntime-node 1.30, dist/binding.js). */
interface Binding {
  binding: {InferenceSession: new () => NativeSession}
  initOrt(): void
}
interface NativeSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: object): void
  outputMetadata: {name: string}[]
  run(feeds: Record<string, Ort.Tensor>, fetches: Record<string, Ort.Tensor>, options: object): unknown
}

/** A float32 operand of rank 3, [batch, rows, columns] as stored (before any transpose). */
export interface Operand {
  data: Float32Array
  dims: [number, number, number]
}

/** Multiplies op(a) @ op(b) into `out` ([batch, M, N]); a batch of 1 broadcasts, as in BatchMatMul. */
export type MatMul = (a: Operand, b: Operand, transposeA: boolean, transposeB: boolean, out: Operand) => void

const require = createRequire(import.meta.url)
const {onnx} = onnxProto
let mlas: MatMul | null | undefined

/** The native product, or null where it is turned off or cannot load here (said once, in a note). */
export function nativeMatMul(): MatMul | null {
  const setting = process.env.VIPANT_GEMM ?? 'mlas'
  if (setting === 'xnnpack') return null
  if (setting !== 'mlas')
    throw new UserError(`VIPANT_GEMM=${setting}: choose mlas (ONNX Runtime, the default) or xnnpack (wasm)`)
  if (mlas === undefined) {
    try {
      mlas = load(gemmThreads())
    } catch (error) {
      if (error instanceof UserError) throw error
      const why = (error instanceof Error ? error.message : String(error)).split('\n')[0]
      note('onnxruntime-node', `not usable for matrix products (${why}): they run on XNNPACK (wasm), 2-4x slower`)
      mlas = null
    }
  }
  return mlas
}

function gemmThreads(): number {
  const text = process.env.VIPANT_GEMM_THREADS ?? '1'
  const threads = Number(text)
  if (!Number.isInteger(threads) || threads < 1)
    throw new UserError(`VIPANT_GEMM_THREADS=${text}: give a whole number of threads, 1 or more`)
  return threads
}

function load(threads: number): MatMul {
  const ort = require('onnxruntime-node') as typeof Ort
  const {binding, initOrt} = require('onnxruntime-node/dist/binding.js') as Binding
  initOrt()
  const sessions = new Map<string, {session: NativeSession; output: string}>()
  const session = (transposeA: boolean, transposeB: boolean) => {
    const key = `${+transposeA}${+transposeB}`
    if (!sessions.has(key)) {
      const model = productGraph(transposeA, transposeB)
      const session = new binding.InferenceSession()
      session.loadModel(model.buffer, model.byteOffset, model.byteLength, {
        executionProviders: ['cpu'],
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        // Idle pool threads (VIPANT_GEMM_THREADS > 1) sleep instead of spinning between the step's other kernels.
        extra: {session: {intra_op: {allow_spinning: '0'}}},
      })
      sessions.set(key, {session, output: session.outputMetadata[0].name})
    }
    return sessions.get(key)!
  }
  const tensor = (x: Operand) => new ort.Tensor('float32', x.data, x.dims)
  const matMul: MatMul = (a, b, transposeA, transposeB, out) => {
    const {session: s, output} = session(transposeA, transposeB)
    s.run({a: tensor(a), b: tensor(b)}, {[output]: tensor(out)}, {})
  }
  check(matMul)
  return matMul
}

/**
 * MatMul of [batch, M, K] by [batch, K, N], each operand transposed first where asked: ORT fuses such a Transpose
 * into the product (FusedMatMul, transA/transB handed to MLAS), so no transposed copy is made. Written with
 * onnx-proto directly: lib/onnx's graph builder sits above this layer (it runs towers, and looks up GPUs here).
 */
function productGraph(transposeA: boolean, transposeB: boolean): Uint8Array {
  const {DataType} = onnx.TensorProto
  const nodes: InstanceType<typeof onnx.NodeProto>[] = []
  const value = (name: string, dims: string[]) =>
    onnx.ValueInfoProto.create({
      name,
      type: {tensorType: {elemType: DataType.FLOAT, shape: {dim: dims.map((dimParam) => ({dimParam}))}}},
    })
  const operand = (name: string, transposed: boolean) => {
    if (!transposed) return name
    const perm = onnx.AttributeProto.create({
      name: 'perm',
      type: onnx.AttributeProto.AttributeType.INTS,
      ints: [0, 2, 1],
    })
    nodes.push(onnx.NodeProto.create({opType: 'Transpose', input: [name], output: [`${name}T`], attribute: [perm]}))
    return `${name}T`
  }
  nodes.push(
    onnx.NodeProto.create({
      opType: 'MatMul',
      input: [operand('a', transposeA), operand('b', transposeB)],
      output: ['out'],
    }),
  )
  const graph = onnx.GraphProto.create({
    name: 'matmul',
    node: nodes,
    input: [value('a', ['batch_a', 'rows_a', 'columns_a']), value('b', ['batch_b', 'rows_b', 'columns_b'])],
    output: [value('out', ['batch', 'M', 'N'])],
  })
  const opsetImport = [onnx.OperatorSetIdProto.create({domain: '', version: 17})]
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({irVersion: 8, producerName: 'vipant', graph, opsetImport}),
  ).finish()
}

/** One small product with both transposes, compared with its known result: the binding works as assumed. */
function check(matMul: MatMul): void {
  const a = {data: Float32Array.of(1, 2, 3, 4, 5, 6), dims: [1, 3, 2]} as Operand // transposed: [[1, 3, 5], [2, 4, 6]]
  const b = {data: Float32Array.of(1, 0, 2, 1, 1, 0), dims: [1, 2, 3]} as Operand // transposed: [[1, 1], [0, 1], [2, 0]]
  const out = {data: new Float32Array(4), dims: [1, 2, 2]} as Operand
  matMul(a, b, true, true, out)
  if (out.data.join() !== '11,4,14,6') throw new Error(`a test product gave ${out.data.join()}, not 11,4,14,6`)
}
