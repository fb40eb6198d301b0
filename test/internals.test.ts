/**
 * What vipant assumes about the private parts of apache-arrow and TensorFlow.js. These packages are pinned to exact
 * versions in package.json; an upgrade that breaks an assumption fails here, naming it, before it fails deep inside a
 * training run or a table read.
 */
import assert from 'node:assert/strict'
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {test} from 'node:test'
import '@tensorflow/tfjs-backend-cpu'
import * as tf from '@tensorflow/tfjs-core'
import {Message, MessageHeader, tableFromArrays, tableToIPC} from 'apache-arrow'
import {registerGradients} from '../src/lib/train/gradients.js'
import {repoRoot} from './helpers.js'

const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>
}
const packageDir = (name: string): string => path.join(repoRoot, 'node_modules', name)
const installed = (name: string): string =>
  (JSON.parse(readFileSync(path.join(packageDir(name), 'package.json'), 'utf8')) as {version: string}).version
const arrow = `apache-arrow ${installed('apache-arrow')}`
const tfjs = `@tensorflow/tfjs-core ${installed('@tensorflow/tfjs-core')}`
const wasm = `@tensorflow/tfjs-backend-wasm ${installed('@tensorflow/tfjs-backend-wasm')}`

test('the packages whose internals are used are pinned to the installed versions', () => {
  for (const name of [
    'apache-arrow',
    '@tensorflow/tfjs-core',
    '@tensorflow/tfjs-backend-cpu',
    '@tensorflow/tfjs-backend-wasm',
  ]) {
    const pinned = manifest.dependencies[name]
    assert.match(
      pinned,
      /^\d+\.\d+\.\d+$/,
      `${name}: package.json asks for "${pinned}", not an exact version (its internals are used)`,
    )
    assert.equal(installed(name), pinned, `${name} ${installed(name)} is installed, package.json pins ${pinned}`)
  }
})

test('apache-arrow: row-reader.ts reads file footers and record batch headers', async () => {
  let file: {Footer: {decode(bytes: Uint8Array): unknown}}
  try {
    file = (await import('apache-arrow/ipc/metadata/file' as string)) as typeof file
  } catch (error) {
    assert.fail(
      `${arrow}: the module 'apache-arrow/ipc/metadata/file' (Footer, FileBlock) moved: ${(error as Error).message}`,
    )
  }
  assert.equal(
    typeof file.Footer?.decode,
    'function',
    `${arrow}: 'apache-arrow/ipc/metadata/file' no longer exports Footer.decode`,
  )
  const bytes = tableToIPC(tableFromArrays({x: Float32Array.from([1, 2, 3])}), 'file')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const length = view.getInt32(bytes.length - 10, true)
  const footer = file.Footer.decode(bytes.subarray(bytes.length - 10 - length, bytes.length - 10)) as {
    schema?: {fields: unknown[]}
    recordBatches?: () => Iterable<{offset: number; metaDataLength: number}>
    dictionaryBatches?: () => Iterable<unknown>
  }
  assert.equal(footer.schema?.fields.length, 1, `${arrow}: Footer.decode(...).schema moved`)
  assert.equal(typeof footer.dictionaryBatches, 'function', `${arrow}: Footer.dictionaryBatches() moved`)
  const blocks = [...(footer.recordBatches?.() ?? [])]
  assert.equal(blocks.length, 1, `${arrow}: Footer.recordBatches() moved`)
  const {offset, metaDataLength} = blocks[0]
  assert.ok(
    Number.isInteger(offset) && Number.isInteger(metaDataLength),
    `${arrow}: FileBlock.offset/metaDataLength moved`,
  )
  // A message: continuation marker, metadata length, metadata (row-reader.ts decodes the metadata alone).
  const metaLength = view.getInt32(offset + 4, true)
  const message = Message.decode(bytes.subarray(offset + 8, offset + 8 + metaLength))
  assert.equal(
    message.headerType,
    MessageHeader.RecordBatch,
    `${arrow}: Message.decode of a record batch's metadata changed`,
  )
  const header = message.header() as unknown as {
    length?: unknown
    nodes?: {length: number; nullCount: number}[]
    buffers?: {offset: number; length: number}[]
  }
  const problem = `${arrow}: a record batch header's length, nodes[].{length, nullCount} or buffers[].{offset, length} moved`
  assert.equal(header.length, 3, problem)
  assert.deepEqual(
    header.nodes?.map((n) => [n.length, n.nullCount]),
    [[3, 0]],
    problem,
  )
  // Validity (none: no nulls), then the values, padded to 8 bytes.
  assert.deepEqual(
    header.buffers?.map((b) => [typeof b.offset, b.length >= 0 && b.length % 8 === 0]),
    [
      ['number', true],
      ['number', true],
    ],
    problem,
  )
  assert.ok((header.buffers?.[1].length ?? 0) >= 12, problem)
  assert.ok('compression' in header, `${arrow}: a record batch header's compression field moved`)
})

test("tfjs-core: gradients.ts loads the gradients from the package's ES-module build", async () => {
  const file = path.join(packageDir('@tensorflow/tfjs-core'), 'dist', 'register_all_gradients.js')
  assert.ok(existsSync(file), `${tfjs}: dist/register_all_gradients.js moved`)
  assert.equal(tf.getGradient(tf.BatchMatMul), undefined, `${tfjs}: the CommonJS build now registers gradients itself`)
  await registerGradients()
  assert.equal(
    typeof tf.getGradient(tf.BatchMatMul)?.gradFunc,
    'function',
    `${tfjs}: register_all_gradients.js no longer registers BatchMatMul's`,
  )
})

test("tfjs-core: transformer.ts puts back the engine's tape around an inner backward pass", async () => {
  await tf.setBackend('cpu')
  await registerGradients()
  const engine = tf.engine() as unknown as {state: {activeTape?: unknown}; gradients?: unknown}
  assert.equal(typeof engine.gradients, 'function', `${tfjs}: engine().gradients moved`)
  let tape: unknown
  const grad = tf.grad((x: tf.Tensor) => {
    tape = engine.state.activeTape
    return tf.square(x)
  })(tf.scalar(3))
  assert.ok(Array.isArray(tape), `${tfjs}: engine().state.activeTape is not the tape while a gradient is recorded`)
  assert.equal(grad.dataSync()[0], 6)
})

test('tfjs-backend-wasm: wasm-kernels.ts replaces its Identity, Slice and SplitV kernels', async () => {
  const backend = (await import('@tensorflow/tfjs-backend-wasm')) as unknown as {
    BackendWasm?: {prototype: Record<string, unknown>}
  }
  for (const method of ['incRef', 'makeOutput', 'typedArrayFromHeap']) {
    assert.equal(typeof backend.BackendWasm?.prototype[method], 'function', `${wasm}: BackendWasm.${method} moved`)
  }
  for (const kernel of [tf.Identity, tf.Slice, tf.SplitV]) {
    assert.ok(tf.getKernel(kernel, 'wasm'), `${wasm}: no '${kernel}' kernel registered for 'wasm'`)
  }
  const slicing = {
    parseSliceParams: tf.slice_util.parseSliceParams,
    isSliceContinous: tf.slice_util.isSliceContinous,
    computeFlatOffset: tf.slice_util.computeFlatOffset,
  }
  for (const [name, fn] of Object.entries({...slicing, prepareSplitSize: tf.backend_util.prepareSplitSize})) {
    assert.equal(typeof fn, 'function', `${tfjs}: ${name} moved`)
  }
  assert.deepEqual(
    tf.slice_util.isSliceContinous([4, 6], [1, 0], [2, 6]),
    true,
    `${tfjs}: slice_util.isSliceContinous changed meaning`,
  )
  assert.equal(
    tf.slice_util.computeFlatOffset([1, 2], [6, 1]),
    8,
    `${tfjs}: slice_util.computeFlatOffset changed meaning`,
  )
})
