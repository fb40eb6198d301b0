import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn, spawnSync, type ChildProcess, type SpawnSyncReturns} from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {Table, tableFromArrays, tableToIPC} from '../src/lib/arrow/apache-arrow.js'
import {RowReader} from '../src/lib/arrow/row-reader.js'
import {capWorkers} from '../src/cli/workers.js'
import {UserError} from '../src/lib/util/errors.js'
import {vipant, VIPANT} from './cli.js'
import {esc50Clips, sharedData, skipWithoutShared} from './helpers.js'
import {TINY, writeTinyVipant, tinyFlags} from './tiny-models.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-outputs-'))
const at = (...parts: string[]) => path.join(dir, ...parts)

/** 48 rows in three batches of 16 (an index table: id and path, every path missing). */
function table(): Table {
  const ids = Array.from({length: 48}, (_, i) => `clip-${i}`)
  const whole = tableFromArrays({id: ids, path: ids.map((id) => `/nowhere/${id}.wav`)})
  return new Table([0, 16, 32].map((start) => whole.slice(start, start + 16).batches[0]))
}
const streamBytes = () => Buffer.from(tableToIPC(table(), 'stream'))
const fileBytes = () => Buffer.from(tableToIPC(table(), 'file'))

/** One line on stderr naming the problem, a non-zero status, no stack trace. */
function oneLine(result: SpawnSyncReturns<Buffer>, pattern: RegExp): void {
  const err = result.stderr.toString()
  assert.notEqual(result.status, 0, err)
  assert.equal(result.signal, null, 'it must end by itself, not hang until killed')
  assert.equal(err.trim().split('\n').length, 1, err)
  assert.match(err, pattern)
  assert.doesNotMatch(err, /\bat .*\.js:\d+|Error:/)
}

/** Files in `d` other than `keep`: temporary or partial outputs left behind. */
const leftovers = (d: string, keep: string[] = []) => readdirSync(d).filter((name) => !keep.includes(name))

/** Runs each command line (whose inputs do not exist either: the output must be reported first, before any reading). */
function refusedAtOnce(runs: [string[], RegExp][]): void {
  for (const [args, pattern] of runs) {
    const result = spawnSync(process.execPath, [VIPANT, ...args], {
      timeout: 20_000,
      env: {...process.env, VIPANT_HOME: at('home')},
    })
    oneLine(result, pattern)
    assert.equal(result.status, 2, args.join(' '))
  }
  assert.ok(!existsSync(at('nodir')), 'a missing directory is not created')
}

test('-o into a missing directory or onto a directory is refused before any work (one line, no stack, no hang)', () => {
  refusedAtOnce([
    [
      ['mel', at('missing.wav'), '-o', at('nodir', 'x.arrow')],
      /nodir\/x\.arrow: directory .*nodir does not exist \(vipant does not create it/,
    ],
    [['head', at('missing.arrow'), '-o', at('nodir', 'x.arrow')], /nodir\/x\.arrow: directory .*nodir does not exist/],
    [['mel', at('missing.wav'), '-o', dir], /: is a directory; -o needs a file name/],
  ])
})

test('embed -o, zeroshot --predictions and --plot into a missing directory are refused before the model loads', async () => {
  const model = await writeTinyVipant(at())
  refusedAtOnce([
    [
      ['embed', '--text', 'a dog', '--model', model, '-o', at('nodir', 'y.arrow')],
      /nodir\/y\.arrow: directory .*nodir does not exist/,
    ],
    [
      ['zeroshot', at('missing.arrow'), '--predictions', at('nodir', 'p.arrow')],
      /nodir\/p\.arrow: directory .*nodir does not exist/,
    ],
    [
      ['zeroshot', at('missing.arrow'), '--plot', at('nodir', 'p.svg')],
      /nodir\/p\.svg: directory .*nodir does not exist/,
    ],
  ])
})

test(
  'an output into a read-only directory fails at once, naming it',
  {skip: process.getuid?.() === 0 ? 'root writes anywhere' : false},
  () => {
    const locked = at('locked')
    mkdirSync(locked)
    chmodSync(locked, 0o555)
    writeFileSync(at('t.arrow'), fileBytes())
    oneLine(
      vipant(['head', at('t.arrow'), '-o', path.join(locked, 'x.arrow')]),
      /locked\/x\.arrow: directory .*locked is not writable/,
    )
  },
)

/** `vipant head` reading a table that never ends: it has opened its output and waits for rows. */
async function waitingHead(out: string): Promise<{child: ChildProcess; stderr: () => string}> {
  const child = spawn(process.execPath, [VIPANT, 'head', '-n', '1000', '-o', out], {stdio: ['pipe', 'ignore', 'pipe']})
  let err = ''
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()))
  const bytes = streamBytes()
  child.stdin!.write(bytes.subarray(0, bytes.length - 8)) // every batch, no end marker: more may come
  const temp = path.join(path.dirname(out), `.${path.basename(out)}.${child.pid}.tmp`)
  for (let i = 0; i < 200 && !(existsSync(temp) && statSync(temp).size > 0); i++)
    await new Promise((r) => setTimeout(r, 50))
  assert.ok(existsSync(temp), `the temporary output ${temp} exists while the command runs (${err})`)
  return {child, stderr: () => err}
}

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  test(`${signal} while writing -o removes the temporary file and exits ${code}`, {timeout: 30_000}, async () => {
    const d = mkdtempSync(at(`sig-${signal}-`))
    const {child, stderr} = await waitingHead(path.join(d, 'out.arrow'))
    child.kill(signal)
    const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    assert.equal(status, code, stderr())
    assert.deepEqual(leftovers(d), [], 'neither the table nor its temporary file is left')
  })
}

test('temporary files of dead processes beside the target are removed on the next write; a live one is kept', () => {
  const d = mkdtempSync(at('stale-'))
  const dead = spawnSync(process.execPath, ['-e', '0']).pid
  writeFileSync(path.join(d, `.out.arrow.${dead}.tmp`), 'x'.repeat(1000))
  writeFileSync(path.join(d, `.out.arrow.${process.pid}.tmp`), 'live')
  writeFileSync(path.join(d, '.other.arrow.1.tmp'), 'not ours')
  writeFileSync(at('t.arrow'), fileBytes())
  const result = vipant(['head', at('t.arrow'), '-o', path.join(d, 'out.arrow')])
  assert.equal(result.status, 0, result.stderr.toString())
  assert.deepEqual(readdirSync(d).sort(), ['.other.arrow.1.tmp', `.out.arrow.${process.pid}.tmp`, 'out.arrow'])
})

test('a stream cut before its end-of-stream marker fails downstream: one line, non-zero, no output left', () => {
  const bytes = streamBytes()
  assert.deepEqual([...bytes.subarray(-8)], [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])
  const d = mkdtempSync(at('cut-'))
  const whole = vipant(['head', '-n', '100', '-o', path.join(d, 'whole.arrow')], {input: bytes})
  assert.equal(whole.status, 0, whole.stderr.toString())
  // Cut on a message boundary (the writer died between batches), and in the middle of a batch.
  for (const [cut, rows] of [
    [bytes.subarray(0, bytes.length - 8), 48],
    [bytes.subarray(0, bytes.length - 100), 32],
  ] as const) {
    const result = vipant(['head', '-n', '100', '-o', path.join(d, 'out.arrow')], {input: cut})
    oneLine(
      result,
      new RegExp(
        `stdin: the Arrow stream was cut short after ${rows} rows \\(no end-of-stream marker\\): the command that wrote it failed\\?`,
      ),
    )
    assert.deepEqual(leftovers(d, ['whole.arrow']), [])
  }
  // The same bytes as a file.
  writeFileSync(at('cut.stream'), bytes.subarray(0, bytes.length - 8))
  oneLine(
    vipant(['inspect', at('cut.stream')]),
    /cut\.stream: the Arrow stream was cut short \(no end-of-stream marker\)/,
  )
})

test('a cut Arrow file, an empty file and a cut stream read row by row are one-line errors', async () => {
  const file = fileBytes()
  writeFileSync(at('cut.arrow'), file.subarray(0, file.length - 40))
  oneLine(vipant(['inspect', at('cut.arrow')]), /cut\.arrow: the Arrow file was cut short \(no footer\)/)
  writeFileSync(at('empty.arrow'), '')
  oneLine(vipant(['inspect', at('empty.arrow')]), /empty\.arrow: empty file, expected an Arrow table/)
  await assert.rejects(
    RowReader.open(at('cut.arrow')),
    (e: Error) => e instanceof UserError && /file was cut short/.test(e.message),
  )
  await assert.rejects(
    RowReader.open(at('cut.stream')),
    (e: Error) => e instanceof UserError && /stream was cut short after 48 rows/.test(e.message),
  )
  writeFileSync(at('whole.stream'), streamBytes())
  assert.equal((await RowReader.open(at('whole.stream'))).numRows, 48)
})

test(
  'on a terminal the progress bar gives back the cursor and line wrapping when the command is stopped',
  {timeout: 30_000},
  async (t) => {
    if (spawnSync('script', ['--version']).status !== 0) return t.skip('needs script (util-linux)')
    const d = mkdtempSync(at('tty-'))
    const bytes = streamBytes()
    writeFileSync(path.join(d, 'part'), bytes.subarray(0, bytes.length - 8))
    const log = path.join(d, 'typescript')
    const pidFile = path.join(d, 'pid')
    // mel reads a table that never ends, so it is running, bar drawn, when the signal comes. The shell that becomes
    // mel (exec) writes its own pid, so the signal reaches mel whatever a shell's $! names for a pipeline.
    const mel = `${JSON.stringify(process.execPath)} ${JSON.stringify(VIPANT)} mel -o ${path.join(d, 'out.arrow')}`
    const inner = `(cat ${path.join(d, 'part')}; sleep 20) | sh -c 'echo $$ > ${pidFile}; exec ${mel.replaceAll("'", "'\\''")}'`
    const term = spawn('script', ['-qfc', inner, log], {stdio: 'ignore', env: {...process.env, TERM: 'xterm'}})
    const shown = () => (existsSync(log) ? readFileSync(log, 'latin1') : '')
    for (let i = 0; i < 300 && !shown().includes('\x1b[?25l'); i++) await new Promise((r) => setTimeout(r, 50))
    assert.ok(shown().includes('\x1b[?25l'), 'the bar hid the cursor')
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGTERM')
    const hidden = shown().lastIndexOf('\x1b[?25l')
    for (let i = 0; i < 200 && !shown().includes('\x1b[?7h', hidden); i++) await new Promise((r) => setTimeout(r, 50))
    term.kill()
    const seen = JSON.stringify(shown().slice(hidden))
    assert.ok(shown().indexOf('\x1b[?25h', hidden) > hidden, `cursor shown again; the terminal got ${seen}`)
    assert.ok(shown().indexOf('\x1b[?7h', hidden) > hidden, `line wrapping on again; the terminal got ${seen}`)
    assert.deepEqual(leftovers(d, ['part', 'typescript', 'pid']), [])
  },
)

test(
  '--workers 1000 over two clips starts two threads; a request free memory cannot hold is lowered and said',
  {skip: skipWithoutShared, timeout: 30_000},
  () => {
    const clips = esc50Clips(2)
    const result = vipant(['mel', ...clips, '--workers', '1000', '-o', at('two.arrow')])
    assert.equal(result.status, 0, result.stderr.toString())
    const peak = Number(/peak memory (\d+) MB/.exec(result.stderr.toString())![1])
    assert.ok(peak < 600, `peak memory ${peak} MB (1000 threads took 8.6 GB)`)

    const writes: string[] = []
    const write = process.stderr.write
    process.stderr.write = ((s: string) => writes.push(s) > 0) as unknown as typeof write
    try {
      assert.equal(capWorkers('mel', 1000, 64 * 2 ** 20, 8 * 2 ** 30), 64)
      assert.equal(capWorkers('mel', 8, 64 * 2 ** 20, 8 * 2 ** 30), 8)
      assert.equal(capWorkers('embed', 4, 2 ** 30, 2 ** 30), 1)
    } finally {
      process.stderr.write = write
    }
    assert.deepEqual(writes, [
      'mel: --workers 1000 lowered to 64: 8.0 GB free, about 64 MB a worker\n',
      'embed: --workers 4 lowered to 1: 1.0 GB free, about 1024 MB a worker\n',
    ])
  },
)

test(
  'zeroshot over an empty dataset fails instead of reporting nothing; written files are named on stderr',
  {timeout: 60_000},
  async () => {
    const model = await writeTinyVipant(at())
    const empty = at('esc50-empty')
    mkdirSync(path.join(empty, 'meta'), {recursive: true})
    mkdirSync(path.join(empty, 'audio'))
    writeFileSync(path.join(empty, 'meta', 'esc50.csv'), 'filename,fold,target,category,esc10,src_file,take\n')
    writeFileSync(at('classes.txt'), 'dog\ncat\n')
    const result = vipant([
      'zeroshot',
      '--data',
      'esc50',
      empty,
      ...tinyFlags(model),
      '--classes',
      at('classes.txt'),
      '--predictions',
      at('p.arrow'),
      '--json',
    ])
    assert.equal(result.status, 2)
    assert.match(result.stderr.toString(), /esc50-empty: nothing to evaluate \(no clip was scored\)\n$/)
    assert.equal(result.stdout.length, 0)
    assert.ok(!existsSync(at('p.arrow')))
  },
)

test('zeroshot names the files it wrote', {skip: skipWithoutShared, timeout: 120_000}, async () => {
  const model = await writeTinyVipant(at())
  const esc = at('esc50-two')
  mkdirSync(path.join(esc, 'meta'), {recursive: true})
  const [header, ...rows] = readFileSync(sharedData('esc50', 'meta', 'esc50.csv'), 'utf8').split('\n')
  const present = rows.filter((row) => row && existsSync(sharedData('esc50', 'audio', row.split(',')[0]))).slice(0, 2)
  writeFileSync(path.join(esc, 'meta', 'esc50.csv'), `${[header, ...present].join('\n')}\n`)
  spawnSync('ln', ['-s', sharedData('esc50', 'audio'), path.join(esc, 'audio')])
  writeFileSync(at('classes50.txt'), `${Array.from({length: 50}, (_, i) => `class ${i}`).join('\n')}\n`)
  const result = vipant([
    'zeroshot',
    '--data',
    'esc50',
    esc,
    ...tinyFlags(model),
    '--classes',
    at('classes50.txt'),
    '--predictions',
    at('p2.arrow'),
    '--plot',
    at('p2.svg'),
    '--json',
  ])
  assert.equal(result.status, 0, result.stderr.toString())
  assert.match(
    result.stderr.toString(),
    new RegExp(`zeroshot: wrote ${at('p2.arrow')}\nzeroshot: wrote ${at('p2.svg')}\n`),
  )
})

test('a column of the wrong type (a text mel) is one line naming the column', async () => {
  const model = await writeTinyVipant(at())
  writeFileSync(
    at('text-mel.arrow'),
    Buffer.from(tableToIPC(tableFromArrays({id: ['a'], mel: ['not a tensor']}), 'file')),
  )
  oneLine(
    vipant(['embed', at('text-mel.arrow'), '--model', model, '-o', at('e.arrow')]),
    /text-mel\.arrow: column mel is .*Utf8.*, not a float32 tensor column/,
  )
  assert.ok(!existsSync(at('e.arrow')))
})

test(
  'mel | embed -o with the stream cut: embed fails in one line and leaves no table (ONNX Runtime workers wind down first)',
  {skip: skipWithoutShared, timeout: 60_000},
  async () => {
    const model = await writeTinyVipant(at())
    const clips = esc50Clips(3)
    const mel = vipant(['mel', ...clips, '--max-len', String(TINY.audioMaxLen)])
    assert.equal(mel.status, 0, mel.stderr.toString())
    const d = mkdtempSync(at('pipe-cut-'))
    const result = vipant(['embed', '--model', model, '--engine', 'onnx', '-o', path.join(d, 'out.arrow')], {
      input: mel.stdout.subarray(0, -8),
    })
    const err = result.stderr.toString()
    assert.equal(result.status, 2, err)
    assert.match(err, /vipant embed: stdin: the Arrow stream was cut short after 3 rows/)
    assert.doesNotMatch(err, /terminate called|Napi/)
    assert.deepEqual(leftovers(d), [])
  },
)
