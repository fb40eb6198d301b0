import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, test} from 'node:test'
import {pruneGraphs} from '../src/lib/onnx/graph-cache.js'

const root = mkdtempSync(path.join(os.tmpdir(), 'vipant-graph-cache-'))
after(() => rmSync(root, {recursive: true, force: true}))

/** A cache folder holding `graphs` (name: [bytes, seconds since last use]) and a checkpoint description. */
function cache(name: string, graphs: Record<string, [number, number]>): string {
  const dir = path.join(root, name)
  mkdirSync(dir)
  const now = Date.now() / 1000
  for (const [graph, [bytes, age]] of Object.entries({...graphs, 'info.json': [10, 1000]})) {
    writeFileSync(path.join(dir, graph), Buffer.alloc(bytes))
    utimesSync(path.join(dir, graph), now - age, now - age)
  }
  return dir
}

const left = (dir: string) => readdirSync(dir).sort()

test('pruneGraphs: the least recently used graphs go once the budget is passed; the one just written and the descriptions stay', async () => {
  // Newest first: new (400), c (800), b (1200 > 1000), a (1600): b and a go.
  const dir = cache('lru', {'a.onnx': [400, 300], 'b.onnx': [400, 200], 'c.onnx': [400, 100], 'new.onnx': [400, 0]})
  await pruneGraphs(path.join(dir, 'new.onnx'), 1000)
  assert.deepEqual(left(dir), ['c.onnx', 'info.json', 'new.onnx'])
})

test('pruneGraphs: use, not writing, decides; a graph over the budget by itself is kept when just written', async () => {
  // a was written first but used last (graph() touches a cached graph it returns): it outlives b and c.
  const used = cache('used', {'a.onnx': [400, 10], 'b.onnx': [400, 200], 'c.onnx': [400, 100], 'new.onnx': [200, 0]})
  await pruneGraphs(path.join(used, 'new.onnx'), 1000)
  assert.deepEqual(left(used), ['a.onnx', 'c.onnx', 'info.json', 'new.onnx'])
  const big = cache('big', {'a.onnx': [100, 100], 'new.onnx': [2000, 0]})
  await pruneGraphs(path.join(big, 'new.onnx'), 1000)
  assert.deepEqual(left(big), ['info.json', 'new.onnx'])
})

test('pruneGraphs: within the budget nothing goes', async () => {
  const dir = cache('within', {'a.onnx': [300, 300], 'b.onnx': [300, 200], 'new.onnx': [300, 0]})
  await pruneGraphs(path.join(dir, 'new.onnx'), 900)
  assert.deepEqual(left(dir), ['a.onnx', 'b.onnx', 'info.json', 'new.onnx'])
})
