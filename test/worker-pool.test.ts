import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {WorkerPool} from '../src/lib/util/worker-pool.js'

const poolModule = JSON.stringify(new URL('../src/lib/util/worker-pool.js', import.meta.url).href)

function workerScript(name: string, source: string): URL {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'vipant-pool-')), name)
  writeFileSync(file, source)
  return pathToFileURL(file)
}

/**
 * A worker that doubles its task after a delay (long for multiples of 3), reporting the most tasks it ever held at
 * once, and whose thread fails on the task -1.
 */
function doublingWorker(): URL {
  return workerScript(
    'double.mjs',
    `import {threadId} from 'node:worker_threads'
    import {serveTasks} from ${poolModule}
    let held = 0
    let most = 0
    serveTasks(async (task) => {
      if (task === -1) setImmediate(() => { throw new Error('thread failed') })
      held++
      most = Math.max(most, held)
      await new Promise((resolve) => setTimeout(resolve, task % 3 === 0 ? 30 : 2))
      held--
      return {result: {value: 2 * task, most, threadId}}
    })`,
  )
}

type Reply = {value: number; most: number; threadId: number}

test('a thread holds at most `depth` tasks; the others wait in the pool for the first thread with room', async () => {
  const pool = new WorkerPool<number, Reply>(doublingWorker(), 2, undefined, 2)
  const replies = await Promise.all(Array.from({length: 30}, (_, i) => pool.run(i)))
  await pool.close()
  assert.deepEqual(
    replies.map((r) => r.value),
    Array.from({length: 30}, (_, i) => 2 * i),
  )
  assert.ok(
    replies.every((r) => r.most <= 2),
    `most held by a thread: ${Math.max(...replies.map((r) => r.most))}`,
  )
  assert.equal(new Set(replies.map((r) => r.threadId)).size, 2)
})

test('without a depth, every task goes to a thread at once', async () => {
  const pool = new WorkerPool<number, Reply>(doublingWorker(), 1)
  const replies = await Promise.all(Array.from({length: 6}, (_, i) => pool.run(i)))
  await pool.close()
  assert.equal(Math.max(...replies.map((r) => r.most)), 6)
})

test('a thread that fails rejects the tasks sent to it and those still waiting, and every later one', async () => {
  const pool = new WorkerPool<number, Reply>(doublingWorker(), 1, undefined, 1)
  const tasks = [pool.run(-1), pool.run(3), pool.run(4)]
  for (const task of tasks) await assert.rejects(task, /thread failed/)
  await assert.rejects(pool.run(5), /thread failed/)
  await pool.close()
})

test('closing lets a thread end by itself: every line it wrote to stderr before its last answer comes through', async () => {
  const script = workerScript(
    'chatty.mjs',
    `import {serveTasks} from ${poolModule}
    serveTasks(async (task) => {
      for (let line = 0; line < 50; line++) process.stderr.write(\`task \${task} line \${line}\\n\`)
      return {result: task}
    })`,
  )
  const lines: string[] = []
  const write = process.stderr.write
  process.stderr.write = ((s: string) => lines.push(s) > 0) as unknown as typeof write
  try {
    for (let round = 0; round < 5; round++) {
      const pool = new WorkerPool<number, number>(script, 2)
      assert.deepEqual(await Promise.all([pool.run(0), pool.run(1)]), [0, 1])
      await pool.close()
    }
  } finally {
    process.stderr.write = write
  }
  // Terminated instead, threads lost all but the first line or two of each task's fifty.
  assert.equal(lines.length, 5 * 2 * 50)
})

test('a thread that does not end when asked is terminated after a grace period', async () => {
  const script = workerScript(
    'deaf.mjs',
    `import {parentPort} from 'node:worker_threads'
    parentPort.on('message', ({id, task}) => parentPort.postMessage({id, result: task}))`,
  )
  const pool = new WorkerPool<number, number>(script, 1)
  assert.equal(await pool.run(7), 7)
  const started = performance.now()
  await pool.close()
  const waited = performance.now() - started
  assert.ok(waited >= 1900 && waited < 10_000, `closed after ${waited.toFixed(0)} ms`)
})
