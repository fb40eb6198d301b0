import {test} from 'node:test'
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {mkdtempSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {download, type DownloadOptions} from '../src/lib/net/download.js'
import {KnownSizes} from '../src/lib/net/known-sizes.js'
import {proxyFor} from '../src/lib/net/proxy.js'
import {sourceUrl} from '../src/lib/net/config.js'
import {withFileLock} from '../src/lib/net/file-lock.js'
import {UserError} from '../src/lib/util/errors.js'
import {TestProxy, TestServer} from './download-server.js'

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'vipant-download-'))
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')
/** 200 kB of bytes that differ everywhere, so a misplaced resume shows. */
const BODY = Buffer.from(Array.from({length: 200_000}, (_, i) => (i * 7919 + (i >> 8)) & 0xff))
const fast = (retries = 3): DownloadOptions['net'] => ({timeoutMs: 300, retries, backoffMs: 10})

async function withServer(fn: (server: TestServer) => Promise<void>): Promise<void> {
  const server = await new TestServer().start()
  try {
    await fn(server)
  } finally {
    await server.close()
  }
}

test('download: a plain file lands complete, and its size is recorded for next time', () =>
  withServer(async (server) => {
    server.serve('/f.bin', BODY)
    const dir = tmp()
    const sizes = new KnownSizes(dir)
    const dest = path.join(dir, 'f.bin')
    const got = await download({url: `${server.url}/f.bin`}, dest, {net: fast(), sizes})
    assert.equal(got.size, BODY.length)
    assert.ok(readFileSync(dest).equals(BODY))
    assert.deepEqual(JSON.parse(readFileSync(path.join(dir, 'sizes.json'), 'utf8')), {
      [`${server.url}/f.bin`]: BODY.length,
    })
    // The publisher changed the file: the recorded size refuses it.
    server.serve('/f.bin', BODY.subarray(0, 1000))
    await assert.rejects(
      download({url: `${server.url}/f.bin`}, path.join(dir, 'g.bin'), {net: fast(), sizes}),
      /1000 bytes where 200000 were expected \(the size of its first download, kept in \S+sizes\.json: remove that entry if that download was bad\); the download was deleted/,
    )
    assert.deepEqual(readdirSync(dir).sort(), ['f.bin', 'sizes.json'])
  }))

test('download: a connection reset mid-file resumes from the byte it stopped at (Range)', () =>
  withServer(async (server) => {
    server.serve('/f.bin', BODY).fault('/f.bin', {resetAfter: 65_536, times: 1})
    const dest = path.join(tmp(), 'f.bin')
    const retries: string[] = []
    await download({url: `${server.url}/f.bin`, sha256: sha256(BODY)}, dest, {
      net: fast(),
      onRetry: (reason) => retries.push(reason),
    })
    assert.ok(readFileSync(dest).equals(BODY))
    const seen = server.seen('/f.bin')
    assert.equal(seen.length, 2)
    assert.equal(seen[0].range, undefined)
    assert.equal(seen[1].range, 'bytes=65536-')
    assert.equal(retries.length, 1)
  }))

test('download: a server that ignores Range sends the whole file again, and the download restarts cleanly', () =>
  withServer(async (server) => {
    server.serve('/f.bin', BODY).fault('/f.bin', {resetAfter: 50_000, times: 1})
    const dir = tmp()
    const dest = path.join(dir, 'f.bin')
    // First attempt dies at 50 000 bytes; from then on the server answers 200 with everything.
    const options = {net: fast(), onRetry: () => server.fault('/f.bin', {ignoreRange: true})}
    await download({url: `${server.url}/f.bin`, sha256: sha256(BODY)}, dest, options)
    assert.ok(readFileSync(dest).equals(BODY))
    assert.deepEqual(
      server.seen('/f.bin').map((r) => r.range),
      [undefined, 'bytes=50000-'],
    )
    assert.deepEqual(readdirSync(dir), ['f.bin'])
  }))

test('download: a wrong checksum is refused and leaves nothing in the cache', () =>
  withServer(async (server) => {
    server.serve('/f.bin', BODY)
    const dir = tmp()
    const wrong = sha256(Buffer.from('something else'))
    await assert.rejects(
      download({url: `${server.url}/f.bin`, sha256: wrong}, path.join(dir, 'f.bin'), {net: fast()}),
      (error: Error) =>
        error instanceof UserError &&
        error.message ===
          `${server.url}/f.bin: sha256 ${sha256(BODY)} where ${wrong} was expected; the download was deleted`,
    )
    assert.deepEqual(readdirSync(dir), [])
  }))

test('download: 404 is a clear error at once, not retried', () =>
  withServer(async (server) => {
    const dir = tmp()
    await assert.rejects(download({url: `${server.url}/gone.bin`}, path.join(dir, 'gone.bin'), {net: fast()}), {
      name: 'UserError',
      message: `${server.url}/gone.bin: HTTP 404 Not Found`,
    })
    assert.equal(server.seen('/gone.bin').length, 1)
    assert.deepEqual(readdirSync(dir), [])
  }))

test('download: a stalled response times out and is retried with backoff; 503s too; then it gives up', () =>
  withServer(async (server) => {
    server.serve('/slow.bin', BODY).fault('/slow.bin', {stallMs: 1000, times: 1})
    server.serve('/busy.bin', BODY).fault('/busy.bin', {status: 503, times: 2})
    const dir = tmp()
    const waits: number[] = []
    const t0 = Date.now()
    await download({url: `${server.url}/slow.bin`}, path.join(dir, 'slow.bin'), {
      net: fast(),
      onRetry: (_reason, wait) => waits.push(wait),
    })
    assert.ok(Date.now() - t0 < 900, 'the stall was cut short by the 300 ms timeout')
    await download({url: `${server.url}/busy.bin`}, path.join(dir, 'busy.bin'), {
      net: fast(),
      onRetry: (_reason, wait) => waits.push(wait),
    })
    assert.deepEqual(waits, [10, 10, 20])
    assert.equal(server.seen('/busy.bin').length, 3)
    server.fault('/busy.bin', {status: 503})
    await assert.rejects(download({url: `${server.url}/busy.bin`}, path.join(dir, 'again.bin'), {net: fast(2)}), {
      message: `${server.url}/busy.bin: HTTP 503 Service Unavailable (gave up after 2 retries; rerun to resume)`,
    })
  }))

test('download: a partial file left by an earlier run is continued, and one that is already whole is just verified', () =>
  withServer(async (server) => {
    server.serve('/f.bin', BODY)
    const dir = tmp()
    writeFileSync(path.join(dir, 'f.bin.part'), BODY.subarray(0, 123_456))
    await download({url: `${server.url}/f.bin`, sha256: sha256(BODY)}, path.join(dir, 'f.bin'), {net: fast()})
    writeFileSync(path.join(dir, 'g.bin.part'), BODY)
    await download({url: `${server.url}/f.bin`, sha256: sha256(BODY)}, path.join(dir, 'g.bin'), {net: fast()})
    assert.ok(readFileSync(path.join(dir, 'f.bin')).equals(BODY) && readFileSync(path.join(dir, 'g.bin')).equals(BODY))
    assert.deepEqual(
      server.seen('/f.bin').map((r) => r.range),
      ['bytes=123456-', 'bytes=200000-'],
    )
  }))

test('VIPANT_MIRROR-style rewriting keeps host and path under the mirror', () => {
  assert.equal(
    sourceUrl('https://zenodo.org/records/1/files/a.7z?download=1', {mirror: 'http://m:8/base/'}),
    'http://m:8/base/zenodo.org/records/1/files/a.7z?download=1',
  )
  assert.equal(sourceUrl('https://zenodo.org/a', {}), 'https://zenodo.org/a')
})

test('proxyFor: HTTPS_PROXY / HTTP_PROXY by scheme, ALL_PROXY as fallback, NO_PROXY bypass', () => {
  const env = {
    HTTPS_PROXY: 'http://p:3128',
    http_proxy: 'q:8080',
    NO_PROXY: 'localhost,.internal.org, example.com:8443,[::1]',
  }
  const via = (url: string, e: NodeJS.ProcessEnv = env) => proxyFor(new URL(url), e)?.href
  assert.equal(via('https://zenodo.org/x'), 'http://p:3128/')
  assert.equal(via('http://zenodo.org/x'), 'http://q:8080/')
  assert.equal(via('https://localhost/x'), undefined)
  assert.equal(via('https://a.b.internal.org/x'), undefined)
  assert.equal(via('https://internal.org/x'), undefined)
  assert.equal(via('https://notinternal.org/x'), 'http://p:3128/')
  assert.equal(via('https://example.com:8443/x'), undefined)
  assert.equal(via('https://example.com/x'), 'http://p:3128/')
  assert.equal(via('http://[::1]:9/x'), undefined)
  assert.equal(via('https://x.org/', {ALL_PROXY: 'http://all:1'}), 'http://all:1/')
  assert.equal(via('https://x.org/', {HTTPS_PROXY: 'http://p:1', NO_PROXY: '*'}), undefined)
  assert.equal(via('https://x.org/', {}), undefined)
})

test('download through an http proxy: absolute-URI requests, the resume included', () =>
  withServer(async (server) => {
    const proxy = await new TestProxy().start()
    const saved = process.env.HTTP_PROXY
    process.env.HTTP_PROXY = proxy.url
    try {
      server.serve('/f.bin', BODY).fault('/f.bin', {resetAfter: 70_000, times: 1})
      const dest = path.join(tmp(), 'f.bin')
      await download({url: `${server.url}/f.bin`, sha256: sha256(BODY)}, dest, {net: fast()})
      assert.ok(readFileSync(dest).equals(BODY))
      assert.deepEqual(proxy.seen, [`GET ${server.url}/f.bin`, `GET ${server.url}/f.bin`])
      assert.deepEqual(
        server.seen('/f.bin').map((r) => r.range),
        [undefined, 'bytes=70000-'],
      )
    } finally {
      if (saved === undefined) delete process.env.HTTP_PROXY
      else process.env.HTTP_PROXY = saved
      await proxy.close()
    }
  }))

test("withFileLock: concurrent holders of one lock run one at a time; a dead owner's lock is taken over", async () => {
  const dir = tmp()
  const file = path.join(dir, 'model.pth')
  const order: string[] = []
  const job = (name: string) =>
    withFileLock(
      file,
      async () => {
        order.push(`${name} in`)
        await new Promise((resolve) => setTimeout(resolve, 50))
        order.push(`${name} out`)
      },
      10,
    )
  await Promise.all([job('a'), job('b')])
  assert.deepEqual(order, ['a in', 'a out', 'b in', 'b out'])
  writeFileSync(`${file}.lock`, '999999999')
  assert.equal(await withFileLock(file, async () => 'took it', 10), 'took it')
  assert.deepEqual(readdirSync(dir), [])
})
