import {test, before, after} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync, spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {tableFromIPC} from '@uwdata/flechette'
import {encodeWav16} from '../src/lib/audio/wav.js'
import {writeVipantCheckpoint} from '../src/lib/checkpoint/vipant-format.js'
import {VIPANT} from './cli.js'
import {TestProxy, TestServer, vipantAsync} from './download-server.js'
import {TINY, tinyAudio, tinyClip} from './tiny-models.js'

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'vipant-fetch-dl-'))
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const wav = (hz: number) =>
  Buffer.from(
    encodeWav16({
      sampleRate: 8000,
      channels: [Float32Array.from({length: 800}, (_, i) => 0.5 * Math.sin((2 * Math.PI * hz * i) / 8000))],
    }),
  )

/** Writes FILES (relative path -> content) under a fresh folder and packs them with CMD run there. */
function pack(files: Record<string, string | Buffer>, archive: string, command: (out: string) => string[]): Buffer {
  const dir = tmp()
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), {recursive: true})
    writeFileSync(path.join(dir, name), content)
  }
  const out = path.join(tmp(), archive)
  const [bin, ...args] = command(out)
  execFileSync(bin, args, {cwd: dir, stdio: 'ignore'})
  return readFileSync(out)
}

const has7z = (() => {
  try {
    execFileSync('7z', ['i'], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
})()
const skip7z = has7z ? false : 'needs 7z (apt-get install p7zip-full), which .ci/run installs'

let server: TestServer
let home: string
let env: NodeJS.ProcessEnv
let checkpoint: Buffer

before(async () => {
  server = await new TestServer().start()
  home = tmp()
  // Every source under the mirror; short patience so the failure tests take little time.
  env = {
    VIPANT_HOME: home,
    VIPANT_MIRROR: `${server.url}/mirror`,
    VIPANT_NET_TIMEOUT: '0.5',
    VIPANT_NET_RETRIES: '2',
    HTTP_PROXY: '',
    HTTPS_PROXY: '',
    http_proxy: '',
    https_proxy: '',
  }
  const file = path.join(tmp(), 'tiny.safetensors')
  await writeVipantCheckpoint(file, {
    format: 'vipant',
    clip: tinyClip(),
    audio: {weights: tinyAudio(), config: {resolution: [TINY.audioMaxLen, 128], patchSize: 32, stride: [16, 24]}},
    info: {source: {format: 'test', file: 'tiny-models.ts'}},
  })
  checkpoint = readFileSync(file)
})

after(() => server.close())

const VA = '/mirror/storage.googleapis.com/ai2-mosaic-public/projects/vipant/model/01FFQTZK9YBPRDQHHR6157AGBR'
const CLIP =
  '/mirror/openaipublic.azureedge.net/clip/models/40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt'

test('fetch model NAME: downloads through a reset, resumes with Range, lists it as cached', async () => {
  server.serve(`${VA}/00083391.pth`, checkpoint).fault(`${VA}/00083391.pth`, {resetAfter: 100_000, times: 1})
  const r = await vipantAsync(['fetch', 'model', 'vipant-esc50'], env)
  assert.equal(r.status, 0, r.stderr.toString())
  const file = path.join(home, 'models', 'vipant-va-00083391.pth')
  assert.equal(r.stdout.toString(), `${file}\n`)
  assert.ok(readFileSync(file).equals(checkpoint))
  // The resumed request starts where the file on disk ended: at most the 100 000 bytes sent before the reset (fewer when
  // the last chunk had not reached the disk yet, as on a loaded machine).
  const [first, resumed] = server.seen(`${VA}/00083391.pth`).map((s) => s.range)
  const resumedAt = Number(/^bytes=(\d+)-$/.exec(resumed ?? '')?.[1])
  assert.ok(first === undefined && resumedAt > 0 && resumedAt <= 100_000, `ranges ${first}, ${resumed}`)
  assert.match(r.stderr.toString(), /retrying in 1\.0 s\n/)
  assert.match(
    r.stderr.toString(),
    new RegExp(
      `fetch model vipant-esc50: downloaded, ${checkpoint.length} bytes \\(size recorded at first download\\)\\n$`,
    ),
  )
  const list = JSON.parse((await vipantAsync(['fetch', 'model', '--list', '--json'], env)).stdout.toString()) as {
    name: string
    cached: boolean
    size: number | null
  }[]
  assert.deepEqual(
    list.find((m) => m.name === 'vipant-esc50'),
    {...list.find((m) => m.name === 'vipant-esc50'), cached: true, size: checkpoint.length},
  )
  assert.deepEqual(
    list.filter((m) => m.cached).map((m) => m.name),
    ['vipant-esc50'],
  )
  assert.equal(list.length, 9)
  // Cached: no second download.
  assert.equal((await vipantAsync(['fetch', 'model', 'vipant-esc50'], env)).status, 0)
  assert.equal(server.seen(`${VA}/00083391.pth`).length, 2)
})

test('fetch model clip-vit-b32: a file whose sha256 is not the one in its URL is refused and nothing is cached', async () => {
  server.serve(CLIP, checkpoint)
  const r = await vipantAsync(['fetch', 'model', 'clip-vit-b32'], env)
  assert.equal(r.status, 2)
  assert.equal(
    r.stderr.toString(),
    `vipant fetch model: https://openaipublic.azureedge.net${CLIP.slice('/mirror/openaipublic.azureedge.net'.length)}: sha256 ${sha256(checkpoint)} where 40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af was expected; the download was deleted\n`,
  )
  assert.deepEqual(
    readdirSync(path.join(home, 'models')).filter((f) => f.startsWith('ViT')),
    [],
  )
})

test('fetch model: 404 is one clear line and exit code 2; an unknown name lists the known ones', async () => {
  const r = await vipantAsync(['fetch', 'model', 'vipant-at'], env)
  assert.equal(r.status, 2)
  assert.equal(
    r.stderr.toString(),
    `vipant fetch model: ${server.url}/mirror/storage.googleapis.com/ai2-mosaic-public/projects/vipant/model/01FM2Y9HJ896B2G6NKRXTEVXZ7/00004140.pth: HTTP 404 Not Found\n`,
  )
  const unknown = await vipantAsync(['fetch', 'model', 'vit-h'], env)
  assert.equal(unknown.status, 2)
  assert.match(unknown.stderr.toString(), /^vipant fetch model: vit-h: not a known model \(clip-vit-b32, vipant-va, /)
})

test('fetch model: a stalled server times out and is retried', async () => {
  const stalled = `${VA}/00079420.pth`
  server.serve(stalled, checkpoint).fault(stalled, {stallMs: 3000, times: 1})
  const r = await vipantAsync(['fetch', 'model', 'vipant-us8k'], env)
  assert.equal(r.status, 0, r.stderr.toString())
  assert.match(r.stderr.toString(), /no data for 0\.5 s; retrying in 1\.0 s/)
  assert.equal(server.seen(stalled).length, 2)
})

test('--model NAME downloads on first use; --offline forbids it', async () => {
  const name = `${VA}/00051623.pth`
  server.serve(name, checkpoint)
  const out = path.join(tmp(), 'q.arrow')
  const offline = await vipantAsync(
    [
      'embed',
      '--model',
      'vipant-audiocaps',
      '--clip',
      'vipant-audiocaps',
      '--text',
      'a dog barks',
      '--offline',
      '-o',
      out,
    ],
    env,
  )
  assert.equal(offline.status, 2)
  assert.match(
    offline.stderr.toString(),
    /model vipant-audiocaps is not in the cache and --offline forbids downloading it: place vipant-va-00051623.pth \(from \S+\) at \S+vipant-va-00051623.pth, or run vipant fetch model vipant-audiocaps online\n$/,
  )
  assert.equal(server.seen(name).length, 0)
  const r = await vipantAsync(
    [
      'embed',
      '--model',
      'vipant-audiocaps',
      '--clip',
      'vipant-audiocaps',
      '--text',
      'a dog barks',
      '--workers',
      '2',
      '-o',
      out,
    ],
    env,
  )
  assert.equal(r.status, 0, r.stderr.toString())
  // Two worker threads asked for the model at once: one download.
  assert.equal(server.seen(name).length, 1)
  const table = tableFromIPC(readFileSync(out), {useProxy: false})
  assert.equal((table.getChild('text_emb')!.at(0) as ArrayLike<number>).length, TINY.embed)
})

test(
  'https through an HTTPS_PROXY: a CONNECT tunnel, TLS inside it',
  {skip: existsSync('/usr/bin/openssl') ? false : 'needs openssl to make a certificate'},
  async () => {
    const dir = tmp()
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        'key.pem',
        '-out',
        'cert.pem',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      {cwd: dir, stdio: 'ignore'},
    )
    const https = await import('node:https')
    const tlsServer = https.createServer(
      {key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem'))},
      (req, res) => {
        res
          .writeHead(req.url?.endsWith('00043681.pth') ? 200 : 404, {'content-length': checkpoint.length})
          .end(checkpoint)
      },
    )
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve))
    const proxy = await new TestProxy().start()
    try {
      const port = (tlsServer.address() as import('node:net').AddressInfo).port
      const proxied = {
        ...env,
        VIPANT_MIRROR: `https://127.0.0.1:${port}/m`,
        HTTPS_PROXY: proxy.url,
        NO_PROXY: 'example.org',
        NODE_EXTRA_CA_CERTS: path.join(dir, 'cert.pem'),
      }
      // Asynchronous: the TLS server and the proxy live in this process.
      const child = spawn(process.execPath, [VIPANT, 'fetch', 'model', 'vipant-clotho'], {
        env: {...process.env, ...proxied},
      })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      const code = await new Promise((resolve) => child.on('close', resolve))
      assert.equal(code, 0, stderr)
      assert.deepEqual(proxy.seen, [`CONNECT 127.0.0.1:${port}`])
      assert.ok(readFileSync(path.join(home, 'models', 'vipant-va-00043681.pth')).equals(checkpoint))
    } finally {
      await proxy.close()
      await new Promise((resolve) => tlsServer.close(resolve))
    }
  },
)

/** Serves a dataset's published files under the mirror, as their hosts would. */
function publish(files: Record<string, Buffer>): void {
  for (const [url, body] of Object.entries(files)) server.serve(`/mirror/${url.replace(/^https:\/\//, '')}`, body)
}

test(
  'fetch esc50 --download: the GitHub zip, resumed after a reset, unpacked into the official layout, then indexed',
  {skip: skip7z},
  async () => {
    const meta =
      'filename,fold,target,category,esc10,src_file,take\n1-1-A-0.wav,1,0,dog,True,1,A\n2-2-A-1.wav,2,1,rooster,False,2,A\n'
    const zip = pack(
      {
        'ESC-50-master/meta/esc50.csv': meta,
        'ESC-50-master/audio/1-1-A-0.wav': wav(440),
        'ESC-50-master/audio/2-2-A-1.wav': wav(660),
        'ESC-50-master/README.md': '# ESC-50\n',
      },
      'master.zip',
      (out) => ['7z', 'a', '-tzip', '-bd', out, 'ESC-50-master'],
    )
    publish({'https://github.com/karolpiczak/ESC-50/archive/master.zip': zip})
    const zipPath = '/mirror/github.com/karolpiczak/ESC-50/archive/master.zip'
    server.fault(zipPath, {resetAfter: Math.floor(zip.length / 2), times: 1})
    const dir = path.join(tmp(), 'ESC-50')
    const out = path.join(tmp(), 'esc50.arrow')
    const r = await vipantAsync(['fetch', 'esc50', dir, '--download', '-o', out], env)
    assert.equal(r.status, 0, r.stderr.toString())
    assert.deepEqual(
      server.seen(zipPath).map((s) => s.range),
      [undefined, `bytes=${Math.floor(zip.length / 2)}-`],
    )
    assert.deepEqual(readdirSync(dir).sort(), ['.vipant-download.json', 'README.md', 'audio', 'meta'])
    assert.ok(readFileSync(path.join(dir, 'audio', '2-2-A-1.wav')).equals(wav(660)))
    assert.match(
      r.stderr.toString(),
      new RegExp(
        `fetch esc50: ESC-50-master.zip downloaded \\(${zip.length} bytes\\) and unpacked\\nfetch esc50: 2 clips, 2 on disk\\n$`,
      ),
    )
    const rows = tableFromIPC(readFileSync(out), {useProxy: false}).toArray()
    assert.deepEqual(
      rows.map((row) => [row.id, row.status, row.class]),
      [
        ['1-1-A-0', 'ok', 'dog'],
        ['2-2-A-1', 'ok', 'rooster'],
      ],
    )
    // The archive is gone from the cache once unpacked; its size is remembered; a rerun downloads nothing.
    assert.deepEqual(readdirSync(path.join(home, 'downloads', 'esc50')), [])
    assert.equal(
      JSON.parse(readFileSync(path.join(home, 'downloads', 'sizes.json'), 'utf8'))[
        'https://github.com/karolpiczak/ESC-50/archive/master.zip'
      ],
      zip.length,
    )
    const again = await vipantAsync(['fetch', 'esc50', dir, '--download', '--json', '-o', out], env)
    assert.equal(again.status, 0, again.stderr.toString())
    assert.deepEqual(JSON.parse(again.stdout.toString()), {
      dataset: 'esc50',
      dir,
      files: [{file: 'ESC-50-master.zip', action: 'already there', bytes: 0}],
      index: {ok: 2, missing: 0, unavailable: 0},
    })
    assert.equal(server.seen(zipPath).length, 2)
  },
)

test('fetch us8k --download: the Zenodo tar.gz from a server that ignores Range restarts cleanly', async () => {
  const meta = 'slice_file_name,fsID,start,end,salience,fold,classID,class\n1-3-0-0.wav,1,0.0,0.1,1,1,3,dog_bark\n'
  const tgz = pack(
    {'UrbanSound8K/metadata/UrbanSound8K.csv': meta, 'UrbanSound8K/audio/fold1/1-3-0-0.wav': wav(300)},
    'u.tar.gz',
    (out) => ['tar', 'czf', out, 'UrbanSound8K'],
  )
  const url = '/mirror/zenodo.org/records/1203745/files/UrbanSound8K.tar.gz'
  // The first attempt dies after 100 bytes; the server then answers every request with the whole file.
  server.serve(url, tgz).fault(url, {resetAfter: 100, times: 1, then: {ignoreRange: true}})
  const dir = path.join(tmp(), 'us8k')
  const r = await vipantAsync(['fetch', 'us8k', dir, '--download', '-o', path.join(dir, 'i.arrow')], env)
  assert.equal(r.status, 0, r.stderr.toString())
  assert.deepEqual(
    server.seen(url).map((s) => s.range),
    [undefined, 'bytes=100-'],
  )
  assert.ok(readFileSync(path.join(dir, 'audio', 'fold1', '1-3-0-0.wav')).equals(wav(300)))
  assert.match(r.stderr.toString(), /fetch us8k: 1 clip, 1 on disk\n$/)
})

test(
  'fetch clotho --download: captions and 7z audio from Zenodo into <split>/ folders; a 404 in the middle is a clear error and a rerun finishes',
  {skip: skip7z},
  async () => {
    const captions = (name: string) =>
      `file_name,caption_1,caption_2,caption_3,caption_4,caption_5\n${name},a,b,c,d,"e, f"\n`
    const base = 'https://zenodo.org/records/4783391/files'
    const files: Record<string, Buffer> = {}
    for (const [i, split] of ['development', 'validation', 'evaluation'].entries()) {
      files[`${base}/clotho_captions_${split}.csv`] = Buffer.from(captions(`${split} ${i}.wav`))
      files[`${base}/clotho_audio_${split}.7z`] = pack(
        {[`${split}/${split} ${i}.wav`]: wav(200 + i * 100)},
        `${split}.7z`,
        (out) => ['7z', 'a', '-bd', out, split],
      )
    }
    const dir = path.join(tmp(), 'clotho')
    publish({...files, [`${base}/clotho_audio_validation.7z`]: Buffer.alloc(0)})
    server.fault('/mirror/zenodo.org/records/4783391/files/clotho_audio_validation.7z', {status: 404, times: 1})
    const failed = await vipantAsync(['fetch', 'clotho', dir, '--download', '-o', path.join(dir, 'i.arrow')], env)
    assert.equal(failed.status, 2)
    assert.match(failed.stderr.toString(), /vipant fetch: http:\S+\/clotho_audio_validation\.7z: HTTP 404 Not Found\n$/)
    publish(files)
    const r = await vipantAsync(['fetch', 'clotho', dir, '--download', '-o', path.join(dir, 'i.arrow')], env)
    assert.equal(r.status, 0, r.stderr.toString())
    assert.match(r.stderr.toString(), /clotho_captions_development.csv already unpacked\n/)
    assert.equal(server.seen('/mirror/zenodo.org/records/4783391/files/clotho_audio_development.7z').length, 1)
    const rows = tableFromIPC(readFileSync(path.join(dir, 'i.arrow')), {useProxy: false}).toArray()
    assert.deepEqual(
      rows.map((row) => [row.split, row.id, row.status, row.captions?.at(4)]),
      [
        ['development', 'development 0', 'ok', 'e, f'],
        ['validation', 'validation 1', 'ok', 'e, f'],
        ['evaluation', 'evaluation 2', 'ok', 'e, f'],
      ],
    )
  },
)
