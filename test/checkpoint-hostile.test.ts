import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {after, describe, test} from 'node:test'
import {loadModelFile} from '../src/lib/checkpoint/load.js'
import {type PyObject, unpickle} from '../src/lib/checkpoint/pickle.js'
import {readSafetensors} from '../src/lib/checkpoint/safetensors.js'
import type {Tensor} from '../src/lib/checkpoint/tensor.js'
import {loadTorchArchive} from '../src/lib/checkpoint/torch-load.js'
import {ZipArchive} from '../src/lib/checkpoint/zip.js'
import {UserError} from '../src/lib/util/errors.js'
import {repoRoot} from './helpers.js'
import {bytes, HOSTILE_CASES, op, safetensorsFile, viewsZip, writeCase, zipArchive} from './hostile-checkpoints.js'

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vipant-hostile-'))
after(() => rmSync(tmp, {recursive: true, force: true}))

const oneLine = (file: string, message: RegExp) => (e: Error) => {
  assert.ok(e instanceof UserError, `${e.name}: ${e.message}`)
  assert.ok(!e.message.includes('\n'), 'one line')
  assert.ok(e.message.startsWith(file), `names the file: ${e.message.slice(0, 200)}`)
  assert.match(e.message, message)
  return true
}

describe('hostile checkpoints are refused in one line naming the file', () => {
  for (const c of HOSTILE_CASES) {
    test(c.what, async () => {
      const file = writeCase(tmp, c)
      await assert.rejects(loadModelFile(file), oneLine(file, c.message))
    })
  }
})

/** Loads a case in a fresh process and reports its refusal, wall time and peak resident memory. */
function measure(file: string): {message: string; ms: number; maxRssMiB: number} {
  const load = pathToFileURL(path.join(repoRoot, 'dist', 'src', 'lib', 'checkpoint', 'load.js')).href
  const script = `
    const {loadModelFile} = await import(${JSON.stringify(load)})
    const start = performance.now()
    const message = await loadModelFile(process.argv[1]).then(() => 'loaded', (e) => e.message)
    const ms = performance.now() - start
    console.log(JSON.stringify({message, ms, maxRssMiB: process.resourceUsage().maxRSS / 1024}))`
  return JSON.parse(
    execFileSync(process.execPath, ['--input-type=module', '-e', script, file], {encoding: 'utf8', timeout: 60_000}),
  )
}

describe('the memory and time attacks stay under 1 GiB and 10 s', () => {
  const attacks = [
    'stride0.pt',
    'stride0-2d.pt',
    'many-views.pt',
    'inflate-lie.pt',
    'inflate-ratio.pt',
    'long4.pt',
    'deep.pt',
    'steps.pt',
  ]
  for (const name of attacks) {
    const c = HOSTILE_CASES.find((h) => h.name === name)!
    test(c.what, () => {
      const file = writeCase(tmp, c)
      const {message, ms, maxRssMiB} = measure(file)
      assert.match(message, c.message)
      assert.ok(ms < 10_000, `${ms} ms`)
      assert.ok(maxRssMiB < 1024, `${maxRssMiB} MiB`)
    })
  }
})

describe('within the limits, files still load', () => {
  const tensors = async (name: string, file: Uint8Array) => {
    const at = path.join(tmp, name)
    writeFileSync(at, file)
    const archive = await loadTorchArchive(at)
    assert.equal(archive.kind, 'torch-save')
    return (archive as {object: Map<string, Tensor>}).object
  }

  test('a stride-0 view within the copy budget is materialised (expand)', async () => {
    const object = await tensors('expand.pt', viewsZip(3, [{size: [1000, 2], stride: [0, 1], offset: 1}]))
    const t = object.get('t0')!
    assert.deepEqual(t.shape, [1000, 2])
    assert.deepEqual([...t.data.subarray(0, 4)], [1, 2, 1, 2])
    assert.equal(t.data.length, 2000)
    assert.equal(t.data[1999], 2)
  })

  test('deflated entries inflate to their stated size, up to 100-fold past 100 KiB', async () => {
    const file = path.join(tmp, 'deflated.zip')
    const weights = new Uint8Array(Float32Array.from({length: 1 << 18}, (_, i) => Math.sin(i)).buffer)
    const zeros = new Uint8Array(100 << 10)
    writeFileSync(
      file,
      zipArchive([
        {name: 'weights', data: weights, deflate: true},
        {name: 'zeros', data: zeros, deflate: true},
      ]).bytes,
    )
    const zip = await ZipArchive.open(file)
    try {
      assert.deepEqual(await zip.read('weights'), weights)
      assert.deepEqual(await zip.read('zeros'), new Uint8Array(100 << 10))
    } finally {
      await zip.close()
    }
  })

  test('LONG1 integers: sign, 64-bit and beyond', () => {
    const long1 = (...b: number[]) => [0x8a, b.length, b]
    const max64 = long1(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)
    const minus2to64 = long1(0, 0, 0, 0, 0, 0, 0, 0, 0xff)
    const value = unpickle(
      bytes(op.proto, op.mark, long1(), long1(0xff), long1(0x00, 0x80), max64, minus2to64, op.tuple, op.stop),
      {source: 'x'},
    )
    assert.deepEqual(value, [0, -1, -32768, 2n ** 63n - 1n, -(2n ** 64n)])
  })

  test('200 000 APPENDS in one go', () => {
    const list = unpickle(
      bytes(op.proto, op.emptyList, op.mark, new Uint8Array(200_000).fill(op.none), op.appends, op.stop),
      {source: 'x'},
    )
    assert.equal((list as unknown[]).length, 200_000)
  })

  test('a shared "billion laughs" DAG, 100 levels of 2^100 paths, is measured once per value', () => {
    const start = performance.now()
    const value = unpickle(bytes(op.proto, op.none, new Array(100).fill([0x32, 0x86]), op.stop), {
      source: 'x',
    }) as unknown[]
    assert.ok(performance.now() - start < 1000)
    assert.equal(value[0], value[1])
  })

  test('100 000 objects sharing one 200 000-item argument tuple are walked once, not once per object', () => {
    const args = [op.mark, new Uint8Array(200_000).fill(op.none), op.tuple, op.binput(0), op.pop]
    const objects = new Array(100_000).fill([op.global('m', 'C'), op.binget(0), op.reduce, op.append])
    const start = performance.now()
    const list = unpickle(bytes(op.proto, args, op.emptyList, objects, op.stop), {source: 'x'}) as PyObject[]
    // Walking each object's arguments anew would take 2e10 visits: minutes, not seconds.
    assert.ok(performance.now() - start < 10_000, `${performance.now() - start} ms`)
    assert.equal(list.length, 100_000)
    assert.equal(list[99_999].args.length, 200_000)
  })

  test('a strided view with 100 000 size-1 axes gathers in time linear in its values', async () => {
    const ones = new Array(100_000).fill(1)
    const start = performance.now()
    const object = await tensors('axes.pt', viewsZip(20_000, [{size: [10_000, ...ones], stride: [2, ...ones]}]))
    // Carrying past every size-1 axis for each value would take 1e9 steps.
    assert.ok(performance.now() - start < 10_000, `${performance.now() - start} ms`)
    const t = object.get('t0')!
    assert.equal(t.data.length, 10_000)
    assert.equal(t.data[4321], 8642)
  })

  test('nesting up to the limit loads', () => {
    const depth = 1000
    const list = unpickle(
      bytes(op.proto, new Array(depth).fill(op.emptyList), new Array(depth - 1).fill(op.append), op.stop),
      {source: 'x'},
    )
    let d = 0
    for (let l = list as unknown[]; l.length > 0; l = l[0] as unknown[]) d++
    assert.equal(d, depth - 1)
  })

  test('a safetensors file whose entries tile its data, listed in any order', async () => {
    const file = path.join(tmp, 'order.safetensors')
    const data = new Uint8Array(Float32Array.of(1, 2, 3).buffer)
    const header = {
      b: {dtype: 'F32', shape: [1], data_offsets: [8, 12]},
      a: {dtype: 'F32', shape: [2], data_offsets: [0, 8]},
    }
    writeFileSync(file, safetensorsFile(header, data))
    const {tensors: t} = await readSafetensors(file)
    assert.deepEqual([...t.get('a')!.data], [1, 2])
    assert.deepEqual([...t.get('b')!.data], [3])
  })
})
