import assert from 'node:assert/strict'
import {before, describe, it} from 'node:test'
import {Worker} from 'node:worker_threads'
import * as tf from '@tensorflow/tfjs-core'
import {selectBackend} from '../src/lib/backend/index.js'
import {nativeMatMul, type Operand} from '../src/lib/backend/native-gemm.js'
import {UserError} from '../src/lib/util/errors.js'
import {randomTensor} from './random-tensor.js'

/** tf.matMul with products on XNNPACK or on MLAS (VIPANT_GEMM is read at every product). */
function product(gemm: 'xnnpack' | 'mlas', a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean) {
  const before = process.env.VIPANT_GEMM
  process.env.VIPANT_GEMM = gemm
  try {
    return tf.matMul(a, b, transposeA, transposeB)
  } finally {
    if (before === undefined) delete process.env.VIPANT_GEMM
    else process.env.VIPANT_GEMM = before
  }
}

/**
 * Float32 tolerance: two summation orders of a K-term dot product differ by rounding errors of about
 * u * sqrt(K) * sum|a_k b_k| (u = 2^-24, errors of random sign). The worst seen over these shapes is 0.53 of that
 * (most 0.1-0.2); the bound allows 4.
 */
const TOLERANCE_UNITS = 4
function worstError(a: tf.Tensor, b: tf.Tensor, ta: boolean, tb: boolean, x: tf.Tensor, m: tf.Tensor): number {
  return tf.tidy(() => {
    const K = ta ? a.shape[a.rank - 2] : a.shape[a.rank - 1]
    const scale = tf.mul(tf.matMul(tf.abs(a), tf.abs(b), ta, tb), 2 ** -24 * Math.sqrt(K))
    return tf.max(tf.div(tf.abs(tf.sub(x, m)), scale)).dataSync()[0]
  })
}

// [a's shape, b's shape, transposeA, transposeB]: a ViT-B block's products (width 768, MLP 3072) at one clip's 306
// tokens, forward and gradients (dX = dY W^T, dW = X^T dY), attention per clip and head, broadcast batches, odd sizes.
const SHAPES: [number[], number[], boolean, boolean][] = [
  [[306, 768], [768, 2304], false, false],
  [[306, 768], [768, 768], false, false],
  [[306, 768], [768, 3072], false, false],
  [[306, 3072], [3072, 768], false, false],
  [[306, 3072], [768, 3072], false, true],
  [[306, 768], [306, 3072], true, false],
  [[306, 3072], [306, 768], true, false],
  [[2, 12, 306, 64], [2, 12, 306, 64], false, true],
  [[2, 12, 306, 306], [2, 12, 306, 64], false, false],
  [[3, 50, 200], [200, 300], false, false],
  [[1, 50, 200], [4, 300, 200], false, true],
  [[1, 1000], [1000, 1001], false, false],
  [[7, 333], [1001, 333], false, true],
  [[257, 129], [65, 257], true, true],
]

describe('matrix products on MLAS (onnxruntime-node) in the wasm BatchMatMul kernel', () => {
  before(async () => {
    await selectBackend('wasm')
    assert.ok(nativeMatMul(), 'onnxruntime-node loads here')
  })

  for (const [aShape, bShape, ta, tb] of SHAPES) {
    it(`${aShape.join('x')}${ta ? 'ᵀ' : ''} @ ${bShape.join('x')}${tb ? 'ᵀ' : ''} matches XNNPACK`, () =>
      tf.tidy(() => {
        const [a, b] = [randomTensor(aShape, 1), randomTensor(bShape, 2)]
        const [x, m] = [product('xnnpack', a, b, ta, tb), product('mlas', a, b, ta, tb)]
        assert.deepEqual(m.shape, x.shape)
        const worst = worstError(a, b, ta, tb, x, m)
        assert.ok(worst <= TOLERANCE_UNITS, `worst difference ${worst.toFixed(2)} units of u * sqrt(K) * |a||b|`)
      }))
  }

  it('runs a large product on MLAS and a small one on XNNPACK', () =>
    tf.tidy(() => {
      const [a, b] = [randomTensor([2, 40, 300], 3), randomTensor([300, 200], 4)]
      const out = {data: new Float32Array(2 * 40 * 200), dims: [2, 40, 200]} as Operand
      const view = (t: tf.Tensor, dims: number[]) => ({data: t.dataSync() as Float32Array, dims}) as Operand
      nativeMatMul()!(view(a, [2, 40, 300]), view(b, [1, 300, 200]), false, false, out)
      assert.deepEqual(tf.matMul(a, b).dataSync(), out.data, 'bit for bit the native product')
      const [c, d] = [randomTensor([10, 20], 5), randomTensor([20, 30], 6)]
      assert.deepEqual(
        product('mlas', c, d, false, false).dataSync(),
        product('xnnpack', c, d, false, false).dataSync(),
      )
    }))

  it("without MLAS, a large transposed product runs on a transposed copy (XNNPACK's transposed path is slow)", () =>
    tf.tidy(() => {
      for (const [aShape, bShape, ta, tb] of SHAPES.filter(([a, , ta, tb]) => (ta || tb) && a.length === 2)) {
        const [a, b] = [randomTensor(aShape, 7), randomTensor(bShape, 8)]
        const flagged = product('xnnpack', a, b, ta, tb)
        const copied = product('xnnpack', ta ? tf.transpose(a) : a, tb ? tf.transpose(b) : b, false, false)
        assert.deepEqual(flagged.dataSync(), copied.dataSync(), `${aShape} @ ${bShape}`)
      }
    }))

  it('rejects an unknown VIPANT_GEMM in one line', () => {
    process.env.VIPANT_GEMM = 'blas'
    try {
      assert.throws(
        () => tf.tidy(() => tf.matMul(randomTensor([200, 200], 1), randomTensor([200, 200], 2))),
        (e: Error) =>
          e instanceof UserError &&
          e.message === 'VIPANT_GEMM=blas: choose mlas (ONNX Runtime, the default) or xnnpack (wasm)',
      )
    } finally {
      delete process.env.VIPANT_GEMM
    }
  })

  it('falls back to XNNPACK with one note where onnxruntime-node cannot load', async () => {
    // A worker thread has its own module registry: there, resolving onnxruntime-node fails.
    const script = `
      const Module = require('node:module')
      const resolve = Module._resolveFilename
      Module._resolveFilename = function (request, ...rest) {
        if (request.startsWith('onnxruntime-node')) throw new Error('Cannot find module ' + request)
        return resolve.call(this, request, ...rest)
      }
      const {parentPort, workerData} = require('node:worker_threads')
      ;(async () => {
        const tf = await import('@tensorflow/tfjs-core')
        const {selectBackend} = await import(workerData.backend)
        await selectBackend('wasm')
        const [a, b] = [tf.fill([200, 300], 0.5), tf.fill([300, 100], 2)]
        const first = tf.matMul(a, b).dataSync()
        const second = tf.matMul(b, tf.fill([100, 400], 1)).dataSync()
        parentPort.postMessage({first: first[0], second: second[0], size: first.length + second.length})
      })()
    `
    const worker = new Worker(script, {
      eval: true,
      stderr: true,
      workerData: {backend: new URL('../src/lib/backend/index.js', import.meta.url).href},
    })
    let stderr = ''
    worker.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    // Listened for from the start: the thread may end before the message's handler runs.
    const exited = new Promise((resolve) => worker.on('exit', resolve))
    const reply = await new Promise((resolve, reject) => {
      worker.on('message', resolve)
      worker.on('error', reject)
    })
    await exited
    assert.deepEqual(reply, {first: 300, second: 200, size: 200 * 100 + 300 * 400})
    assert.equal(
      stderr,
      'onnxruntime-node: note: not usable for matrix products (Cannot find module onnxruntime-node): ' +
        'they run on XNNPACK (wasm), 2-4x slower\n',
    )
  })
})
