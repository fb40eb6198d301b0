import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {atomicWrite} from '../src/lib/util/atomic-write.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-temp-files-'))
const ATOMIC = path.join(path.dirname(fileURLToPath(import.meta.url)), '../src/lib/util/atomic-write.js')

/**
 * A process that writes `target` through atomicWrite and never finishes (a writer stuck on its input), after
 * optionally installing its own SIGINT handler, as training does.
 */
function stuckWriter(target: string, ownHandler?: 'before' | 'during') {
  const handler = `process.on('SIGINT', () => { process.stderr.write('own handler\\n'); setTimeout(() => process.exit(7), 50) })`
  const script = `
    import {atomicWrite} from ${JSON.stringify(ATOMIC)}
    import {writeFileSync} from 'node:fs'
    ${ownHandler === 'before' ? handler : ''}
    await atomicWrite(${JSON.stringify(target)}, async (temp) => {
      writeFileSync(temp, 'partial')
      ${ownHandler === 'during' ? handler : ''}
      process.stderr.write('writing\\n')
      await new Promise(() => setInterval(() => {}, 1000))
    })`
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {stdio: ['ignore', 'ignore', 'pipe']})
  let err = ''
  const started = new Promise<void>((resolve) =>
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString()
      if (err.includes('writing')) resolve()
    }),
  )
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  return {child, started, closed, stderr: () => err}
}

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  test(`${signal} during an atomic write removes the temporary file and exits ${code}`, {timeout: 20_000}, async () => {
    const d = mkdtempSync(path.join(dir, `sig-${signal}-`))
    const writer = stuckWriter(path.join(d, 'sizes.json'))
    await writer.started
    assert.deepEqual(
      readdirSync(d),
      [`.sizes.json.${writer.child.pid}.tmp`],
      'the temporary name is hidden and names its process',
    )
    writer.child.kill(signal)
    assert.equal(await writer.closed, code, writer.stderr())
    assert.deepEqual(readdirSync(d), [], 'nothing is left beside the target')
  })
}

for (const when of ['before', 'during'] as const) {
  test(
    `a command's own SIGINT handler, installed ${when} the write, still decides; the temporary file goes at exit`,
    {timeout: 20_000},
    async () => {
      const d = mkdtempSync(path.join(dir, `own-${when}-`))
      const writer = stuckWriter(path.join(d, 'input.arrow'), when)
      await writer.started
      writer.child.kill('SIGINT')
      assert.equal(await writer.closed, 7, writer.stderr())
      assert.match(writer.stderr(), /own handler/)
      assert.deepEqual(readdirSync(d), [])
    },
  )
}

test('a failed atomic write leaves nothing, not even the temporary files of dead processes', async () => {
  const d = mkdtempSync(path.join(dir, 'fail-'))
  const target = path.join(d, 'page.html')
  const dead = spawnSync(process.execPath, ['-e', '0']).pid
  writeFileSync(path.join(d, `.page.html.${dead}.tmp`), 'left by a killed process')
  await assert.rejects(
    atomicWrite(target, async (temp) => {
      writeFileSync(temp, 'half')
      throw new Error('disk full')
    }),
    /disk full/,
  )
  assert.deepEqual(readdirSync(d), [])
  await atomicWrite(target, async (temp) => writeFileSync(temp, 'whole'))
  assert.deepEqual(readdirSync(d), ['page.html'])
  assert.ok(existsSync(target))
})
