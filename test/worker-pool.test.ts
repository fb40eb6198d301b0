import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {WorkerPool} from '../src/lib/util/worker-pool.js'

/**
 * A worker that doubles its task after a delay (long for multiples of 3), reporting the most tasks it ever held at
 * once, and which fails as a thread on the task -1.
 */
function doublingWorker(): URL {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'vipant-pool-')), 'double.mjs')
  writeFileSync(
    file,
    `import {parentPort, threadId} from 'node:worker_threads'
    let held = 0
    let most = 0
    parentPort.on('message', ({id, task}) => {
      if (task === -1) throw new Error('thread failed')
      held++
      most = Math.max(most, held)
      setTimeout(() => {
        held--
        parentPort.postMessage({id, result: {value: 2 * task, most, threadId}})
      }, task % 3 === 0 ? 30 : 2)
    })`,
  )
  return pathToFileURL(file)
}

type Reply = {value: number; most: number; threadId: number}

test('a thread holds at most `depth` tasks; the others wait in the pool for the first thread with room', async () => {
  const pool = new WorkerPool<number, Reply>(doublingWorker(), 2, undefined, 2).startNow(5)
  assert.equal(pool.started, 2, 'startNow starts threads before any task, no more than the pool holds')
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
