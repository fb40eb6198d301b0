/**
 * Kernels of tfjs-backend-wasm replaced, where the package's copy more memory than they need to; each gives the
 * same values. Registered once, in place of the package's.
 *
 * - Identity copies its input into a new buffer. tfjs runs it for every tensor a gradient saves on the tape
 *   (engine.clone), so training held a copy of each saved input, weights included. tfjs tensors are immutable (a
 *   Variable's assign swaps its buffer), so a clone shares its input's buffer and counts a reference, as wasm's
 *   own Reshape and the cpu backend's Identity do.
 * - Slice (and SplitV, which calls it) reads its whole input out of the wasm heap (a copy) to cut one piece:
 *   splitting attention's projections into samples and heads copied each of them once per piece. Here the piece
 *   is copied straight from the heap.
 * - GatherV2 checks every index through a closure and then works out each output element's source from strides,
 *   one element at a time: gathering the audio tower's overlapping patches (8 clips of 1000 frames, 2.5M floats)
 *   took 0.2 s of CPU, most of a tiny tower's training step. The indices are mostly runs (a patch row is 32
 *   neighbouring bins), so each run is copied as one block within the heap: 15 ms.
 * - BatchMatMul (XNNPACK) slows down once the right-hand matrix outgrows the cache: a ViT-B MLP product
 *   (2448x768 by 768x3072) ran at 12 GFLOP/s per core where 768x768 ones run at 20. A large right-hand matrix is
 *   cut into column blocks of at most BLOCK_FLOATS, each multiplied by the packaged kernel and written into its
 *   columns of the output: 1.3-1.7x faster on those products, bit for bit the same values (a column's dot products
 *   do not depend on the other columns). Products from NATIVE_MULTIPLY_ADDS run on ONNX Runtime's MLAS instead
 *   (native-gemm.ts), 2-3x faster again; the column blocks serve where onnxruntime-node is missing.
 */
import * as tf from '@tensorflow/tfjs-core'
import {nativeMatMul} from './native-gemm.js'

/** The parts of tfjs-backend-wasm's BackendWasm used here. */
interface WasmBackend {
  wasm: {HEAPU8: Uint8Array}
  incRef(dataId: tf.DataId): void
  disposeData(dataId: tf.DataId): boolean
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array
}

let registered = false

export function patchWasmKernels(): void {
  if (registered) return
  registered = true
  const packaged = tf.getKernel(tf.Slice, 'wasm')!.kernelFunc
  const slice = (x: tf.TensorInfo, begin: number[], size: number[], backend: WasmBackend): tf.TensorInfo => {
    const [start, extent] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size)
    const contiguous = tf.slice_util.isSliceContinous(x.shape, start, extent)
    if (x.dtype === 'string' || (!contiguous && x.shape.length !== 2)) {
      return packaged({inputs: {x}, attrs: {begin: start, size: extent}, backend: backend as never}) as tf.TensorInfo
    }
    const out = backend.makeOutput(extent, x.dtype) // may grow the heap: views are taken after it
    const [from, to] = [backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(out)]
    if (contiguous) {
      const offset = tf.slice_util.computeFlatOffset(start, tf.util.computeStrides(x.shape))
      to.set(from.subarray(offset, offset + to.length))
    } else {
      const [rows, cols] = extent
      for (let i = 0; i < rows; i++) {
        const at = (start[0] + i) * x.shape[1] + start[1]
        to.set(from.subarray(at, at + cols), i * cols)
      }
    }
    return out
  }
  replace(tf.Identity, ({inputs: {x}, backend}) => {
    const {dataId, shape, dtype} = x as tf.TensorInfo
    ;(backend as unknown as WasmBackend).incRef(dataId)
    return {dataId, shape, dtype}
  })
  replace(tf.Slice, ({inputs: {x}, attrs, backend}) => {
    const {begin, size} = attrs as unknown as tf.SliceAttrs
    return slice(x as tf.TensorInfo, begin as number[], size as number[], backend as unknown as WasmBackend)
  })
  replace(tf.SplitV, ({inputs: {x}, attrs, backend}) => {
    const input = x as tf.TensorInfo
    const {numOrSizeSplits, axis} = attrs as unknown as tf.SplitVAttrs
    const at = tf.util.parseAxisParam(axis, input.shape)[0]
    const begin = input.shape.map(() => 0)
    return tf.backend_util.prepareSplitSize(input as tf.Tensor, numOrSizeSplits, at).map((s) => {
      const size = input.shape.slice()
      size[at] = s
      const piece = slice(input, begin.slice(), size, backend as unknown as WasmBackend)
      begin[at] += s
      return piece
    })
  })
  const packagedGather = tf.getKernel(tf.GatherV2, 'wasm')!.kernelFunc
  replace(tf.GatherV2, ({inputs, attrs, backend}) => {
    const [x, indices] = [inputs.x as tf.TensorInfo, inputs.indices as tf.TensorInfo]
    if (x.dtype === 'string') return packagedGather({inputs, attrs, backend})
    const {axis, batchDims} = attrs as unknown as tf.GatherV2Attrs
    return gather(x, indices, tf.util.parseAxisParam(axis, x.shape)[0], batchDims, backend as unknown as WasmBackend)
  })
  const packagedMatMul = tf.getKernel(tf.BatchMatMul, 'wasm')!.kernelFunc
  const onXnnpack = (args: Parameters<tf.KernelFunc>[0]) => {
    const [a, b] = [args.inputs.a as tf.TensorInfo, args.inputs.b as tf.TensorInfo]
    const {transposeA, transposeB} = args.attrs as unknown as tf.BatchMatMulAttrs
    const [K, N] = b.shape.slice(-2)
    const single = a.shape.slice(0, -2).every((d) => d === 1) && b.shape.slice(0, -2).every((d) => d === 1)
    if (transposeA || transposeB || !single || K * N <= BLOCK_FLOATS || a.dtype !== 'float32')
      return packagedMatMul(args)
    const multiply = (right: tf.TensorInfo) => packagedMatMul({...args, inputs: {a, b: right}}) as tf.TensorInfo
    const out = columnBlocks(
      {...a, shape: a.shape.slice(-2)},
      {...b, shape: [K, N]},
      multiply,
      args.backend as unknown as WasmBackend,
    )
    // Batch dimensions (all 1 here) broadcast as the packaged kernel's do.
    return {
      ...out,
      shape: [...Array(Math.max(a.shape.length, b.shape.length) - 2).fill(1), a.shape[a.shape.length - 2], N],
    }
  }
  const packagedTranspose = tf.getKernel(tf.Transpose, 'wasm')!.kernelFunc
  replace(tf.BatchMatMul, (args) => {
    const [a, b] = [args.inputs.a as tf.TensorInfo, args.inputs.b as tf.TensorInfo]
    const {transposeA, transposeB} = args.attrs as unknown as tf.BatchMatMulAttrs
    const backend = args.backend as unknown as WasmBackend
    const native = nativeProduct(a, b, transposeA, transposeB, backend)
    if (native) return native
    if (!(transposeA || transposeB) || a.dtype !== 'float32') return onXnnpack(args)
    // XNNPACK's own transposed products run at 1-2 GFLOP/s: a transposed copy first is faster, so the model code
    // passes transpose flags (free on MLAS) and never transposes an operand itself.
    const flip = (x: tf.TensorInfo) => {
      const perm = [...x.shape.keys()]
      perm.push(...perm.splice(-2).reverse())
      return packagedTranspose({inputs: {x}, attrs: {perm}, backend: args.backend}) as tf.TensorInfo
    }
    const [left, right] = [transposeA ? flip(a) : a, transposeB ? flip(b) : b]
    const attrs = {...args.attrs, transposeA: false, transposeB: false}
    const out = onXnnpack({...args, inputs: {a: left, b: right}, attrs})
    for (const copy of [left, right]) if (copy !== a && copy !== b) backend.disposeData(copy.dataId)
    return out
  })
}

/** Products from this many multiply-adds run on MLAS; below it, ORT's per-call cost outweighs its faster kernel. */
const NATIVE_MULTIPLY_ADDS = 1e6

/**
 * op(a) @ op(b) on MLAS (native-gemm.ts), straight from and into the wasm heap; undefined where the product is
 * small, its batch dimensions broadcast other than by a batch of 1, or MLAS is not available.
 */
function nativeProduct(
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  backend: WasmBackend,
): tf.TensorInfo | undefined {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return undefined
  const [[rowsA, columnsA], [rowsB, columnsB]] = [a.shape.slice(-2), b.shape.slice(-2)]
  const [M, K, N] = [transposeA ? columnsA : rowsA, transposeA ? rowsA : columnsA, transposeB ? rowsB : columnsB]
  const [batchA, batchB] = [tf.util.sizeFromShape(a.shape.slice(0, -2)), tf.util.sizeFromShape(b.shape.slice(0, -2))]
  const batch = Math.max(batchA, batchB)
  if (batch * M * K * N < NATIVE_MULTIPLY_ADDS || (batchA !== batchB && Math.min(batchA, batchB) !== 1))
    return undefined
  if (K !== (transposeB ? columnsB : rowsB)) return undefined // the packaged kernel says what is wrong
  const matMul = nativeMatMul()
  if (!matMul) return undefined
  const outShape = [...tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2)), M, N]
  const out = backend.makeOutput(outShape, 'float32') // may grow the heap: views are taken after it
  const view = (t: tf.TensorInfo, dims: [number, number, number]) => ({
    data: backend.typedArrayFromHeap(t) as Float32Array,
    dims,
  })
  matMul(
    view(a, [batchA, rowsA, columnsA]),
    view(b, [batchB, rowsB, columnsB]),
    transposeA,
    transposeB,
    view(out, [batch, M, N]),
  )
  return out
}

/** The largest right-hand block of a product, in floats: 768x768 runs at full speed. */
const BLOCK_FLOATS = 768 * 768

/** a (M, K) @ b (K, N) as blocks of b's columns, each through `multiply`, written into their columns of the output. */
function columnBlocks(
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  multiply: (right: tf.TensorInfo) => tf.TensorInfo,
  backend: WasmBackend,
): tf.TensorInfo {
  const [[M], [K, N]] = [a.shape, b.shape]
  const blocks = Math.ceil((K * N) / BLOCK_FLOATS)
  const width = Math.ceil(N / blocks)
  const out = backend.makeOutput([1, M, N], 'float32')
  for (let start = 0; start < N; start += width) {
    const columns = Math.min(width, N - start)
    const right = backend.makeOutput([1, K, columns], 'float32')
    const [whole, block] = [backend.typedArrayFromHeap(b), backend.typedArrayFromHeap(right)]
    for (let k = 0; k < K; k++) block.set(whole.subarray(k * N + start, k * N + start + columns), k * columns)
    const product = multiply(right)
    // Views after the product: making it may have grown the heap.
    const [from, to] = [
      backend.typedArrayFromHeap(product) as Float32Array,
      backend.typedArrayFromHeap(out) as Float32Array,
    ]
    for (let i = 0; i < M; i++) to.set(from.subarray(i * columns, (i + 1) * columns), i * N + start)
    backend.disposeData(product.dataId)
    backend.disposeData(right.dataId)
  }
  return out
}

/** Runs shorter than this many elements are copied element by element: a block copy's call costs more. */
const SHORT_RUN = 16

/** tf.gather's values: out[b, o, i, s] = x[b, o, indices[b, i], s], copied within the heap run by run. */
function gather(
  x: tf.TensorInfo,
  indices: tf.TensorInfo,
  axis: number,
  batchDims: number,
  backend: WasmBackend,
): tf.TensorInfo {
  const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(
    x as tf.Tensor,
    indices as tf.Tensor,
    axis,
    batchDims,
  )
  const {batchSize, outerSize, dimSize, sliceSize} = info
  const out = backend.makeOutput(info.outputShape, x.dtype) // may grow the heap: views are taken after it
  const index = backend.typedArrayFromHeap(indices) as Int32Array
  for (let i = 0; i < index.length; i++) {
    if (index[i] < 0 || index[i] >= dimSize)
      throw new Error(`GatherV2: the index value ${index[i]} is not in [0, ${dimSize - 1}]`)
  }
  const bytes = x.dtype === 'bool' ? 1 : 4
  const heap = backend.wasm.HEAPU8
  const [from, to] = [backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(out)]
  const [fromByte, toByte] = [from.byteOffset, to.byteOffset]
  const perBatch = index.length / batchSize
  for (let b = 0; b < batchSize; b++) {
    const ids = index.subarray(b * perBatch, (b + 1) * perBatch)
    for (let o = 0; o < outerSize; o++) {
      const [source, target] = [(b * outerSize + o) * dimSize * sliceSize, (b * outerSize + o) * perBatch * sliceSize]
      for (let i = 0; i < perBatch;) {
        let run = 1
        while (i + run < perBatch && ids[i + run] === ids[i] + run) run++
        const [at, n, into] = [source + ids[i] * sliceSize, run * sliceSize, target + i * sliceSize]
        if (n < SHORT_RUN) for (let k = 0; k < n; k++) to[into + k] = from[at + k]
        else heap.copyWithin(toByte + into * bytes, fromByte + at * bytes, fromByte + (at + n) * bytes)
        i += run
      }
    }
  }
  return out
}

/** Registers `kernelFunc` in place of the package's kernel, keeping its set-up: the packaged kernel is the fallback. */
function replace(kernelName: string, kernelFunc: tf.KernelFunc): void {
  const {setupFunc} = tf.getKernel(kernelName, 'wasm')!
  tf.unregisterKernel(kernelName, 'wasm')
  tf.registerKernel({kernelName, backendName: 'wasm', kernelFunc, setupFunc})
}
