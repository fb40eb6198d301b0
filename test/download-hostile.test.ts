import {test, before, after} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import os from 'node:os'
import zlib from 'node:zlib'
import path from 'node:path'
import {tableFromIPC} from '@uwdata/flechette'
import {decodeAudio} from '../src/lib/audio/decode.js'
import {probeMedia} from '../src/lib/util/ffmpeg.js'
import {encodeWav16} from '../src/lib/audio/wav.js'
import {BadArchive, unpackArchive} from '../src/lib/data/download/unpack.js'
import {download} from '../src/lib/net/download.js'
import {TestServer, vipantAsync} from './download-server.js'
import {zerosStream, zipArchive} from './hostile-checkpoints.js'

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'vipant-hostile-'))
const wav = (hz: number, rate = 8000) =>
  Buffer.from(
    encodeWav16({
      sampleRate: rate,
      channels: [Float32Array.from({length: rate / 10}, (_, i) => 0.5 * Math.sin((2 * Math.PI * hz * i) / rate))],
    }),
  )
const has = (bin: string, arg: string) => {
  try {
    execFileSync(bin, [arg], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
}
const skipZip = has('zip', '-v') ? false : 'needs zip (apt-get install zip)'
const skip7z = has('7z', 'i') ? false : 'needs 7z (apt-get install p7zip-full)'
const skipFfmpeg = has('ffmpeg', '-version') ? false : 'needs ffmpeg'

/** A folder outside every target, whose files must survive every test untouched. */
function victim(): {dir: string; intact(): void} {
  const dir = tmp()
  writeFileSync(path.join(dir, 'keep.wav'), wav(100))
  writeFileSync(path.join(dir, 'notes.txt'), 'mine\n')
  return {dir, intact: () => assert.deepEqual(readdirSync(dir).sort(), ['keep.wav', 'notes.txt'])}
}

/** Runs BUILD in a fresh folder (to lay out files and links) and then COMMAND there to pack it; returns the archive. */
function pack(build: (dir: string) => void, archive: string, command: (out: string) => string[]): Buffer {
  const dir = tmp()
  build(dir)
  const out = path.join(tmp(), archive)
  const [bin, ...args] = command(out)
  execFileSync(bin, args, {cwd: dir, stdio: 'ignore'})
  return readFileSync(out)
}

const put = (dir: string, files: Record<string, string | Buffer>) => {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), {recursive: true})
    writeFileSync(path.join(dir, name), content)
  }
}

const ESC_META = 'filename,fold,target,category,esc10,src_file,take\n1-1-A-0.wav,1,0,dog,True,1,A\n'
const ESC_URL = 'https://github.com/karolpiczak/ESC-50/archive/master.zip'
const ESC_PATH = '/mirror/github.com/karolpiczak/ESC-50/archive/master.zip'
const US8K_PATH = '/mirror/zenodo.org/records/1203745/files/UrbanSound8K.tar.gz'
const goodEsc = () =>
  pack(
    (d) => put(d, {'ESC-50-master/meta/esc50.csv': ESC_META, 'ESC-50-master/audio/1-1-A-0.wav': wav(440)}),
    'm.zip',
    (out) => ['zip', '-qry', out, 'ESC-50-master'],
  )

let server: TestServer
let home: string
let env: NodeJS.ProcessEnv

before(async () => {
  server = await new TestServer().start()
  home = tmp()
  env = {
    VIPANT_HOME: home,
    VIPANT_MIRROR: `${server.url}/mirror`,
    VIPANT_NET_TIMEOUT: '0.5',
    VIPANT_NET_RETRIES: '2',
    HTTP_PROXY: '',
    HTTPS_PROXY: '',
    http_proxy: '',
    https_proxy: '',
    ALL_PROXY: '',
    all_proxy: '',
  }
})

after(() => server.close())

/** Runs `vipant fetch DATASET DIR --download`, which must be refused quickly with one line matching MESSAGE. */
async function refused(dataset: string, dir: string, message: RegExp): Promise<void> {
  const started = Date.now()
  const r = await vipantAsync(['fetch', dataset, dir, '--download', '-o', path.join(tmp(), 'i.arrow')], env)
  assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`)
  assert.equal(r.status, 2, r.stderr.toString())
  assert.equal(r.stderr.toString().split('\n').length, 2, r.stderr.toString())
  assert.match(r.stderr.toString(), message)
}

const sizes = () =>
  existsSync(path.join(home, 'downloads', 'sizes.json'))
    ? (JSON.parse(readFileSync(path.join(home, 'downloads', 'sizes.json'), 'utf8')) as Record<string, number>)
    : {}

test(
  'esc50: a zip whose top folder is a symlink to another folder is refused; that folder is untouched, nothing is cached',
  {skip: skipZip},
  async () => {
    const outside = victim()
    server.serve(
      ESC_PATH,
      pack(
        (d) => symlinkSync(outside.dir, path.join(d, 'ESC-50-master')),
        'm.zip',
        (out) => ['zip', '-qy', out, 'ESC-50-master'],
      ),
    )
    const dir = path.join(tmp(), 'esc')
    await refused(
      'esc50',
      dir,
      /ESC-50-master\.zip: holds a symbolic link ESC-50-master( -> \S+)?; refused \(archives may hold only files and folders\); it was deleted from the cache\n$/,
    )
    outside.intact()
    assert.deepEqual(readdirSync(dir), [])
    assert.deepEqual(readdirSync(path.join(home, 'downloads', 'esc50')), [])
    assert.equal(sizes()[ESC_URL], undefined)
  },
)

test(
  'esc50: a symlinked audio folder, where DIR/audio exists, is refused: no merge, DIR/audio as it was',
  {skip: skipZip},
  async () => {
    const outside = victim()
    server.serve(
      ESC_PATH,
      pack(
        (d) => {
          put(d, {'ESC-50-master/meta/esc50.csv': ESC_META})
          symlinkSync(outside.dir, path.join(d, 'ESC-50-master', 'audio'))
        },
        'm.zip',
        (out) => ['zip', '-qry', out, 'ESC-50-master'],
      ),
    )
    const dir = path.join(tmp(), 'esc')
    put(dir, {'audio/1-1-A-0.wav': wav(440)})
    await refused('esc50', dir, /holds a symbolic link ESC-50-master\/audio( -> \S+)?; refused/)
    outside.intact()
    assert.deepEqual(readdirSync(dir).sort(), ['audio'])
    assert.deepEqual(readdirSync(path.join(dir, 'audio')), ['1-1-A-0.wav'])
  },
)

test('us8k: a tar.gz whose top folder is a symlink is refused, and so is one holding a hard link', async () => {
  const outside = victim()
  server.serve(
    US8K_PATH,
    pack(
      (d) => symlinkSync(outside.dir, path.join(d, 'UrbanSound8K')),
      'u.tgz',
      (out) => ['tar', 'czf', out, 'UrbanSound8K'],
    ),
  )
  const dir = path.join(tmp(), 'us8k')
  await refused('us8k', dir, /UrbanSound8K\.tar\.gz: holds a symbolic link UrbanSound8K -> \S+; refused/)
  outside.intact()
  assert.deepEqual(readdirSync(dir), [])
  server.serve(
    US8K_PATH,
    pack(
      (d) => {
        put(d, {'UrbanSound8K/metadata/UrbanSound8K.csv': 'x\n'})
        linkSync(path.join(d, 'UrbanSound8K/metadata/UrbanSound8K.csv'), path.join(d, 'UrbanSound8K/copy.csv'))
      },
      'u.tgz',
      (out) => ['tar', 'czf', out, 'UrbanSound8K'],
    ),
  )
  await refused('us8k', dir, /holds a hard link UrbanSound8K\/(copy|metadata\/UrbanSound8K)\.csv; refused/)
  assert.deepEqual(readdirSync(dir), [])
})

test(
  '7z: a symlink in the archive is refused by unpackArchive (BadArchive), the folder it points to untouched',
  {skip: skip7z},
  async () => {
    const outside = victim()
    const archive = path.join(tmp(), 'a.7z')
    writeFileSync(
      archive,
      pack(
        (d) => {
          put(d, {'development/a.wav': wav(300)})
          symlinkSync(outside.dir, path.join(d, 'development', 'more'))
        },
        'a.7z',
        (out) => ['7z', 'a', '-snl', '-bd', out, 'development'],
      ),
    )
    await assert.rejects(
      unpackArchive(archive, '7z', path.join(tmp(), 'x')),
      (error) => error instanceof BadArchive && /holds a symbolic link development\/more; refused/.test(error.message),
    )
    outside.intact()
  },
)

/** A ustar header for NAME declaring SIZE bytes (type '0', a file), with its checksum. */
function tarHeader(name: string, size: number): Buffer {
  const header = Buffer.alloc(512)
  header.write(name, 0)
  header.write('0000644\0', 100)
  header.write('0000000\0', 108)
  header.write('0000000\0', 116)
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124)
  header.write('00000000000\0', 136)
  header.write('0', 156)
  header.write('ustar\0' + '00', 257)
  header.fill(' ', 148, 156)
  const sum = header.reduce((a, b) => a + b, 0)
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148)
  return header
}

test('us8k: a tar.gz bomb (a few KB declaring 8 GiB) is refused from its listing, within 10 s, before anything is written', async () => {
  const bomb = zlib.gzipSync(
    Buffer.concat([tarHeader('UrbanSound8K/audio/fold1/huge.wav', 8 * 2 ** 30), Buffer.alloc(1 << 20)]),
  )
  assert.ok(bomb.length < 10_000, `${bomb.length} bytes`)
  server.serve(US8K_PATH, bomb)
  const dir = path.join(tmp(), 'us8k')
  await refused(
    'us8k',
    dir,
    /UrbanSound8K\.tar\.gz: would unpack to more than 1\.0 GiB \(8\.0 GiB declared so far; the cap is 20x the archive \+ 1 GiB, at most 64 GiB\); refused; it was deleted/,
  )
  assert.deepEqual(readdirSync(dir), [])
  assert.deepEqual(readdirSync(path.join(home, 'downloads', 'us8k')), [])
})

test(
  'a zip whose central directory declares 3.75 GiB for a tiny entry is refused before unzip runs',
  {skip: skipZip},
  async () => {
    const zip = pack(
      (d) => put(d, {'ESC-50-master/a.wav': 'tiny'}),
      'b.zip',
      (out) => ['zip', '-q0r', out, 'ESC-50-master'],
    )
    // uncompressed size: offset 22 in the local header, 24 in the central directory entry
    zip.writeUInt32LE(0xf0000000, zip.indexOf(Buffer.from([0x50, 0x4b, 0x03, 0x04])) + 22)
    zip.writeUInt32LE(0xf0000000, zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 24)
    const archive = path.join(tmp(), 'b.zip')
    writeFileSync(archive, zip)
    const into = path.join(tmp(), 'x')
    await assert.rejects(
      unpackArchive(archive, 'zip', into),
      (error) =>
        error instanceof BadArchive && /would unpack to more than 1\.0 GiB \(3\.8 GiB declared/.test(error.message),
    )
    assert.equal(existsSync(into), false, 'nothing written')
  },
)

test('absolute names, .. steps and FIFOs in a tar.gz are refused from the listing; nothing is written', async () => {
  const outside = victim()
  const cases: [string, (d: string) => string[], RegExp][] = [
    [
      'absolute',
      () => ['tar', 'czPf', '-', path.join(outside.dir, 'notes.txt')],
      /holds \/\S+notes\.txt, an absolute path; refused$/,
    ],
    [
      'climbing',
      (d) => {
        put(d, {'x/a.wav': 'a'})
        return ['tar', 'czPf', '-', 'x/../x/a.wav']
      },
      /holds x\/\.\.\/x\/a\.wav, a path that climbs out with \.\.; refused$/,
    ],
    [
      'fifo',
      (d) => {
        execFileSync('mkfifo', [path.join(d, 'pipe')])
        return ['tar', 'czf', '-', 'pipe']
      },
      /holds pipe, a device, FIFO or socket; refused$/,
    ],
  ]
  for (const [what, build, message] of cases) {
    const d = tmp()
    const [bin, ...args] = build(d)
    const archive = path.join(tmp(), `${what}.tgz`)
    writeFileSync(archive, execFileSync(bin, args, {cwd: d, stdio: ['ignore', 'pipe', 'ignore']}))
    const into = path.join(tmp(), 'x')
    await assert.rejects(
      unpackArchive(archive, 'tar.gz', into),
      (error) => error instanceof BadArchive && message.test(error.message),
      what,
    )
    assert.equal(existsSync(into), false, `${what}: nothing written`)
  }
  outside.intact()
})

test(
  'a 200 HTML page (a captive portal) is neither cached nor sized; the real archive then goes through; a poisoned cache heals',
  {skip: skipZip},
  async () => {
    const portal = Buffer.from('<!DOCTYPE html>\n<html><body>Please log in to the Wi-Fi</body></html>\n')
    server.serve(ESC_PATH, portal, 'text/html')
    const dir = path.join(tmp(), 'esc')
    await refused(
      'esc50',
      dir,
      /master\.zip: the server sent an HTML page \(a captive portal, login or error page\?\), not a zip archive; the download was deleted\n$/,
    )
    assert.deepEqual(readdirSync(path.join(home, 'downloads', 'esc50')), [])
    assert.equal(sizes()[ESC_URL], undefined)
    const zip = goodEsc()
    server.serve(ESC_PATH, zip)
    const r = await vipantAsync(['fetch', 'esc50', dir, '--download', '-o', path.join(tmp(), 'i.arrow')], env)
    assert.equal(r.status, 0, r.stderr.toString())
    assert.ok(readFileSync(path.join(dir, 'audio', '1-1-A-0.wav')).equals(wav(440)))
    assert.equal(sizes()[ESC_URL], zip.length)
    // What an older version left: the portal page cached as the archive, its size recorded. Both are dropped.
    const again = path.join(tmp(), 'esc')
    writeFileSync(path.join(home, 'downloads', 'esc50', 'ESC-50-master.zip'), portal)
    writeFileSync(path.join(home, 'downloads', 'sizes.json'), JSON.stringify({[ESC_URL]: portal.length}))
    const healed = await vipantAsync(['fetch', 'esc50', again, '--download', '-o', path.join(tmp(), 'i.arrow')], env)
    assert.equal(healed.status, 0, healed.stderr.toString())
    assert.ok(readFileSync(path.join(again, 'meta', 'esc50.csv'), 'utf8') === ESC_META)
    assert.equal(sizes()[ESC_URL], zip.length)
  },
)

test('fetch model: an HTML page is refused, not cached; a cached HTML page is replaced by the real checkpoint', async () => {
  const url =
    '/mirror/storage.googleapis.com/ai2-mosaic-public/projects/vipant/model/01FFQTZK9YBPRDQHHR6157AGBR/00043681.pth'
  const portal = Buffer.from('<html><head><title>Sign in</title></head></html>')
  server.serve(url, portal, 'text/html')
  const r = await vipantAsync(['fetch', 'model', 'vipant-clotho'], env)
  assert.equal(r.status, 2)
  assert.match(
    r.stderr.toString(),
    /00043681\.pth: the server sent an HTML page \(a captive portal, login or error page\?\), not a checkpoint \(zip, pickle or safetensors\); the download was deleted\n$/,
  )
  const file = path.join(home, 'models', 'vipant-va-00043681.pth')
  assert.equal(existsSync(file), false)
  // A torch.save zip starts with a local file header; the rest does not matter to the check.
  const checkpoint = Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), Buffer.alloc(1000, 7)])
  writeFileSync(file, portal)
  server.serve(url, checkpoint)
  const healed = await vipantAsync(['fetch', 'model', 'vipant-clotho'], env)
  assert.equal(healed.status, 0, healed.stderr.toString())
  assert.ok(readFileSync(file).equals(checkpoint))
})

test('a host that does not resolve fails at once (no retries), saying VIPANT_MIRROR and where to place the file', async () => {
  const dest = path.join(tmp(), 'x.zip')
  const started = Date.now()
  await assert.rejects(
    download({url: 'http://nonexistent.invalid/x.zip'}, dest, {net: {timeoutMs: 30_000, retries: 5, backoffMs: 1000}}),
    {
      message: `http://nonexistent.invalid/x.zip: cannot resolve nonexistent.invalid (offline?): set VIPANT_MIRROR to a mirror that has it, or download http://nonexistent.invalid/x.zip elsewhere and place it at ${dest}`,
    },
  )
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`)
  const cli = Date.now()
  const r = await vipantAsync(['fetch', 'model', 'vipant-esc50'], {
    ...env,
    VIPANT_MIRROR: 'http://nonexistent.invalid/m',
  })
  assert.ok(Date.now() - cli < 8000, `took ${Date.now() - cli} ms`)
  assert.equal(r.status, 2)
  assert.equal(
    r.stderr.toString(),
    'vipant fetch model: http://nonexistent.invalid/m/storage.googleapis.com/ai2-mosaic-public/projects/vipant/model/' +
      '01FFQTZK9YBPRDQHHR6157AGBR/00083391.pth: cannot resolve nonexistent.invalid (offline?): set VIPANT_MIRROR to a mirror that has it, or download ' +
      'https://storage.googleapis.com/ai2-mosaic-public/projects/vipant/model/01FFQTZK9YBPRDQHHR6157AGBR/00083391.pth elsewhere and place it at ' +
      `${path.join(home, 'models', 'vipant-va-00083391.pth')} (then --offline, or VIPANT_OFFLINE=1, keeps commands from trying to download it)\n`,
  )
})

test('fetch folder: links back up and a self-loop are skipped with one warning; every file is indexed once', async () => {
  const dir = tmp()
  put(dir, {'a.wav': wav(200), 'sub/b.wav': wav(300)})
  symlinkSync('..', path.join(dir, 'sub', 'up'))
  symlinkSync(dir, path.join(dir, 'sub', 'root'))
  symlinkSync('self', path.join(dir, 'self'))
  const out = path.join(tmp(), 'f.arrow')
  const r = await vipantAsync(['fetch', 'folder', dir, '-o', out], env)
  assert.equal(r.status, 0, r.stderr.toString())
  const warnings = r.stderr
    .toString()
    .split('\n')
    .filter((l) => l.startsWith('vipant: '))
  assert.equal(warnings.length, 1, r.stderr.toString())
  assert.match(
    warnings[0],
    /: (a symbolic link loop|leads to \S+, a folder already walked); skipped \(and any further such links\)$/,
  )
  const rows = tableFromIPC(readFileSync(out), {useProxy: false}).toArray()
  assert.deepEqual(
    rows.map((row) => row.id),
    ['a', 'sub/b'],
  )
  // The folder itself a loop: one named line.
  const loop = path.join(tmp(), 'loop')
  symlinkSync(loop, loop)
  const bad = await vipantAsync(['fetch', 'folder', loop, '-o', out], env)
  assert.equal(bad.status, 2)
  assert.equal(bad.stderr.toString().split('\n').length, 2, bad.stderr.toString())
  assert.equal(bad.stderr.toString(), `vipant fetch: ${loop}: a symbolic link loop\n`)
})

test('ffmpeg reads a file named like a protocol (concat:a.flac|b.flac) as that file', {skip: skipFfmpeg}, async () => {
  const dir = tmp()
  const flac = (seconds: number, name: string) =>
    execFileSync('ffmpeg', [
      '-nostdin',
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      `sine=frequency=440:sample_rate=16000:duration=${seconds}`,
      '-c:a',
      'flac',
      `file:${path.join(dir, name)}`,
    ])
  flac(0.1, 'a.flac')
  flac(0.1, 'b.flac')
  flac(0.5, 'concat:a.flac|b.flac')
  const cwd = process.cwd()
  process.chdir(dir)
  try {
    const audio = await decodeAudio('concat:a.flac|b.flac')
    assert.equal(audio.channels[0].length, 8000)
    assert.ok(Math.abs((await probeMedia('concat:a.flac|b.flac')).duration! - 0.5) < 0.01)
    await assert.rejects(probeMedia('concat:none.flac'), {message: 'concat:none.flac: No such file or directory'})
  } finally {
    process.chdir(cwd)
  }
})

test(
  'a zip entry that declares 40 bytes and inflates to 1 GiB is stopped once the folder passes the cap',
  {skip: has('unzip', '-v') ? false : 'needs unzip (7-Zip stops at the declared size by itself)'},
  async () => {
    const {bytes} = zipArchive([
      {name: 'ESC-50-master/a.wav', data: new Uint8Array(), deflate: {stream: zerosStream(1024), size: 40}},
    ])
    const archive = path.join(tmp(), 'lie.zip')
    writeFileSync(archive, bytes)
    const into = path.join(tmp(), 'x')
    const cap = 16 * 2 ** 20
    await assert.rejects(
      unpackArchive(archive, 'zip', into, cap),
      (error) =>
        error instanceof BadArchive &&
        /unpacked past its cap of 0\.0 GiB although it declared less/.test(error.message),
    )
    const left = statSync(path.join(into, 'ESC-50-master', 'a.wav')).size
    assert.ok(left > cap && left < 2 ** 30, `stopped at ${left} bytes, of 1 GiB`)
  },
)
