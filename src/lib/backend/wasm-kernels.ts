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
 */
import * as tf from '@tensorflow/tfjs-core'

/** The parts of tfjs-backend-wasm's BackendWasm used here. */
interface WasmBackend {
  incRef(dataId: tf.DataId): void
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
}

function replace(kernelName: string, kernelFunc: tf.KernelFunc): void {
  tf.unregisterKernel(kernelName, 'wasm')
  tf.registerKernel({kernelName, backendName: 'wasm', kernelFunc})
}
