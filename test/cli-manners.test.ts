import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, symlinkSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {wrapHanging} from '../src/cli/help.js'
import {progress} from '../src/lib/util/progress.js'
import {suggest} from '../src/cli/suggest.js'
import {encodeWav16} from '../src/lib/audio/wav.js'
import {plural} from '../src/lib/util/plural.js'
import {VIPANT, vipant} from './cli.js'
import {repoRoot} from './helpers.js'
import {writeTinyVipant} from './tiny-models.js'

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'vipant-manners-'))
const out = (r: {stdout: Buffer}) => r.stdout.toString()
const err = (r: {stderr: Buffer}) => r.stderr.toString()

/** A 1 s, 16 kHz mono WAV of a 440 Hz tone. */
function toneWav(file: string) {
  const samples = Float32Array.from({length: 16000}, (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / 16000))
  writeFileSync(file, encodeWav16({sampleRate: 16000, channels: [samples]}))
}

test('a mistyped command gets one line with the command it probably meant, exit 2', () => {
  const r = vipant(['zeroshoot'])
  assert.equal(r.status, 2)
  assert.equal(err(r), "vipant: 'zeroshoot' is not a vipant command. Did you mean 'zeroshot'?\n")
  assert.equal(out(r), '')
  const far = vipant(['frobnicate'])
  assert.equal(err(far), "vipant: 'frobnicate' is not a vipant command. See 'vipant --help'.\n")
})

test("an unknown command with arguments is named as typed, never in oclif's colon form", () => {
  const r = vipant(['retreive', 'foo'])
  assert.equal(r.status, 2)
  assert.equal(err(r), "vipant: 'retreive' is not a vipant command. Did you mean 'retrieve'?\n")
})

test('an unknown flag is one line with the flag it probably meant, not the whole usage', () => {
  const r = vipant(['zeroshot', '--dat', 'esc50'])
  assert.equal(r.status, 2)
  assert.equal(err(r), "vipant zeroshot: unknown flag --dat; did you mean '--data'? (see 'vipant zeroshot --help')\n")
  const typo = vipant(['mel', '--zero-mea'])
  assert.equal(
    err(typo),
    "vipant mel: unknown flag --zero-mea; did you mean '--zero-mean'? (see 'vipant mel --help')\n",
  )
  const choice = vipant(['zeroshot', '--data', 'esc5'])
  assert.equal(err(choice).split('\n').length, 2, err(choice))
  assert.match(err(choice), /^vipant zeroshot: Expected --data=esc5 to be one of: esc50, us8k; did you mean 'esc50'\?/)
  const badInt = vipant(['embed', '--model', 'x', '--workers', 'abc'])
  assert.equal(
    err(badInt),
    "vipant embed: --workers: Expected an integer but received: abc (see 'vipant embed --help')\n",
  )
})

test('-h and "vipant help CMD" show the same help as --help', () => {
  const help = vipant(['mel', '--help'])
  assert.equal(help.status, 0)
  for (const args of [
    ['mel', '-h'],
    ['help', 'mel'],
  ]) {
    const r = vipant(args)
    assert.equal(r.status, 0, `${args.join(' ')}: ${err(r)}`)
    assert.equal(out(r), out(help), args.join(' '))
  }
  assert.match(out(vipant(['help', 'fetch', 'model'])), /^USAGE\n {2}\$ vipant fetch model/m)
  assert.equal(out(vipant(['-h'])), out(vipant(['--help'])))
  const typo = vipant(['help', 'zeroshoot'])
  assert.equal(typo.status, 2)
  assert.equal(err(typo), "vipant: 'zeroshoot' is not a vipant command. Did you mean 'zeroshot'?\n")
})

test('the top-level help ends with the main pipeline as examples', () => {
  const text = out(vipant(['--help']))
  assert.match(text, /^EXAMPLES\n/m)
  assert.match(text, /^ {4}\$ vipant fetch esc50 .*\| vipant mel \| vipant embed .*\| vipant zeroshot$/m)
  assert.match(text, /'vipant help COMMAND' or 'vipant COMMAND -h'/)
})

test('hand-aligned lists in help keep their columns at 80 columns', () => {
  const text = out(vipant(['fetch', '--help'], {env: {OCLIF_COLUMNS: '80'}}))
  const lines = text.slice(text.indexOf('\nDESCRIPTION\n'), text.indexOf('\nEXAMPLES\n')).split('\n')
  assert.ok(
    lines.every((l) => l.length <= 80),
    lines.filter((l) => l.length > 80).join('\n'),
  )
  const row = lines.findIndex((l) => l.startsWith('    esc50, us8k, clotho   the official archives'))
  assert.ok(row > 0, text)
  // The row's continuation lines sit under its text column, and the next row starts its own.
  assert.match(lines[row + 1], /^ {26}\S/)
  const next = lines.findIndex((l) => l.startsWith('    audioset, audiocaps   '))
  assert.ok(
    next > row + 1 && lines.slice(row + 1, next).every((l) => /^ {26}\S/.test(l)),
    lines.slice(row, next + 1).join('\n'),
  )
  const esc50 = lines.findIndex((l) => l.startsWith('    esc50      ESC-50'))
  assert.match(lines[esc50 + 1], /^ {15}\S/)
})

test('wrapHanging: continuation under the second column, else under the indent; short lines untouched', () => {
  assert.equal(wrapHanging('  a    one two three four', 40), '  a    one two three four')
  assert.equal(wrapHanging('  term   alpha beta gamma delta', 30), '  term   alpha beta gamma\n         delta')
  assert.equal(wrapHanging('    plain words that go on and on', 24), '    plain words that go\n    on and on')
})

test('suggest: prefixes first (an abbreviation), then close spellings, nothing for a far word', () => {
  assert.deepEqual(suggest('ret', ['retrieve', 'report', 'mel']), ['retrieve'])
  assert.deepEqual(suggest('--dat', ['--data', '--date', '--model']), ['--data', '--date'])
  assert.deepEqual(suggest('retreive', ['retrieve', 'report']), ['retrieve'])
  assert.deepEqual(suggest('frobnicate', ['retrieve', 'report']), [])
})

test('plural: counts agree with their nouns', () => {
  assert.equal(plural(1, 'error'), '1 error')
  assert.equal(plural(0, 'error'), '0 errors')
  assert.equal(plural(2, 'batch', 'batches'), '2 batches')
  assert.equal(plural(1, 'query', 'queries'), '1 query')
})

test('the progress bar shows count/total and an ETA when the total is known', () => {
  let written = ''
  const stream = Object.assign(Object.create(process.stderr), {
    isTTY: true,
    columns: 120,
    write: (s: string) => ((written += s), true),
    cursorTo: () => true,
    clearLine: () => true,
    moveCursor: () => true,
  }) as NodeJS.WriteStream
  const bar = progress('mel', 4, stream)
  bar.tick()
  bar.tick()
  bar.stop()
  assert.match(written, /mel .* 2\/4 50% .*ETA/)
})

test(
  'mel on a folder shows count/total on a terminal, and its summary names the clip that failed and why',
  {timeout: 60_000},
  () => {
    const dir = tmp()
    const clips = path.join(dir, 'clips')
    mkdirSync(clips)
    toneWav(path.join(clips, 'a.wav'))
    toneWav(path.join(clips, 'b.wav'))
    writeFileSync(path.join(clips, 'broken.wav'), 'RIFF....WAVEjunk')
    // `script` gives the command a terminal, where the bar is drawn.
    const command = `${process.execPath} ${VIPANT} mel ${clips} --max-len 100 --workers 1 -o ${path.join(dir, 'out.arrow')}`
    const r = spawnSync('script', ['-qec', command, '/dev/null'], {env: {...process.env, VIPANT_HOME: dir}})
    const text = out(r).replace(/\r/g, '\n')
    assert.equal(r.status, 0, text)
    assert.match(text, /mel .* 3\/3 100%/)
    assert.match(text, /^mel: 3 clips \(2 ok, 0 missing, 1 error\), /m)
    assert.match(text, new RegExp(`^mel: 1 clip failed: ${path.join(clips, 'broken.wav')}: corrupt WAV header`, 'm'))
  },
)

test(
  'a bad input is reported before the engine starts (no engine or backend line first)',
  {timeout: 60_000},
  async () => {
    const dir = tmp()
    const model = await writeTinyVipant(dir)
    const r = vipant(['zeroshot', path.join(dir, 'no-such.arrow'), '--model', model, '--clip', model])
    assert.equal(r.status, 2)
    assert.equal(err(r).split('\n').length, 2, err(r))
    assert.match(err(r), /^vipant zeroshot: .*no-such\.arrow/)
    const data = vipant([
      'zeroshot',
      '--data',
      'esc50',
      path.join(dir, 'no-such-dir'),
      '--model',
      model,
      '--clip',
      model,
    ])
    assert.notEqual(data.status, 0)
    assert.doesNotMatch(err(data), /engine|backend/, err(data))
  },
)

test('mel --help states one default for --workers; embed --help states the towers it runs', () => {
  const mel = out(vipant(['mel', '--help']))
  assert.match(mel, /--workers=<value>\n\s+worker threads \[default: one per core, \d+ here\]\n/)
  const embed = out(vipant(['embed', '--help'], {env: {OCLIF_COLUMNS: '200'}}))
  assert.doesNotMatch(embed, /those whose input columns are present/)
  assert.match(embed, /default: audio for a "mel" column, plus image for "images"; without "mel", image, else text/)
})

test('examples run from a clone without an installed vipant (no exit 127)', {timeout: 60_000}, (t) => {
  const dir = tmp()
  mkdirSync(path.join(dir, 'bin'))
  symlinkSync(process.execPath, path.join(dir, 'bin', 'node'))
  const env = {
    PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin`,
    HOME: dir,
    VIPANT_HOME: dir,
    DATA: path.join(dir, 'no-such-dir'),
    OUT: dir,
  }
  if (spawnSync('bash', ['-c', 'command -v vipant'], {env}).status === 0)
    return t.skip('a vipant is installed in /usr/bin or /bin')
  const r = spawnSync('bash', [path.join(repoRoot, 'examples', 'zeroshot-esc50.sh')], {env, cwd: dir})
  assert.notEqual(r.status, 127, err(r))
  assert.match(err(r), /^vipant zeroshot: /m)
})

test("npm reads .npmrc without warnings, and its scripts skip onnxruntime-node's download", () => {
  const env = {...process.env, ONNXRUNTIME_NODE_INSTALL: ''}
  const r = spawnSync('npm', ['exec', '-c', 'node -p process.env.ONNXRUNTIME_NODE_INSTALL'], {cwd: repoRoot, env})
  assert.equal(r.status, 0, err(r))
  assert.doesNotMatch(err(r), /Unknown (project|user|env) config/)
  assert.equal(out(r).trim(), 'skip')
})
