import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn, execFileSync} from 'node:child_process'
import {mkdtempSync, statSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {tableFromIPC} from '@uwdata/flechette'
import {pipeline, VIPANT} from './cli.js'
import {sharedData, skipWithoutShared} from './helpers.js'

const collect = (stream: NodeJS.ReadableStream) =>
  new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => resolve(Buffer.concat(chunks)))
  })

test(
  '-o onto a named pipe writes through it and leaves it a pipe (no rename over devices)',
  {skip: skipWithoutShared, timeout: 60_000},
  async () => {
    const fifo = path.join(mkdtempSync(path.join(os.tmpdir(), 'vipant-fifo-')), 'table.pipe')
    execFileSync('mkfifo', [fifo])
    const reader = spawn('cat', [fifo])
    const bytes = collect(reader.stdout)
    const writer = spawn(process.execPath, [VIPANT, 'fetch', 'esc50', sharedData('esc50'), '-o', fifo])
    const stderr = collect(writer.stderr)
    assert.equal(await new Promise((resolve) => writer.on('close', resolve)), 0, (await stderr).toString())
    assert.equal(tableFromIPC(await bytes).numRows, 2000)
    assert.ok(statSync(fifo).isFIFO())
  },
)

test(
  'a reader that stops early (vipant head) ends the writer quietly: SIGPIPE status, no stack, no queue error',
  {skip: skipWithoutShared, timeout: 60_000},
  async () => {
    const child = pipeline(
      `vipant fetch us8k ${sharedData('us8k')} 2>/tmp/vipant-epipe.err | vipant head -n 3 | vipant inspect --json; echo "fetch=\${PIPESTATUS[0]}" >&2`,
    )
    const [out, err] = await Promise.all([collect(child.stdout), collect(child.stderr)])
    await new Promise((resolve) => child.on('close', resolve))
    assert.equal(JSON.parse(out.toString()).rows, 3, err.toString())
    assert.match(err.toString(), /fetch=(0|141)/)
    const fetchErr = execFileSync('cat', ['/tmp/vipant-epipe.err']).toString()
    assert.doesNotMatch(fetchErr, /AsyncQueue|at .*\.js:\d+/)
  },
)
