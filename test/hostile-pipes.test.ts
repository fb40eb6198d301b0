import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {tableFromIPC} from '../src/lib/arrow/apache-arrow.js'
import {encodeWav16} from '../src/lib/audio/wav.js'
import {pipeline, vipant} from './cli.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-pipes-'))
const at = (...parts: string[]) => path.join(dir, ...parts)

/** Two short tones and their index table (IPC file format, as `fetch -o x.arrow` writes it). */
function indexTable(): string {
  mkdirSync(at('clips'))
  for (const [name, hz] of [
    ['a.wav', 440],
    ['b.wav', 880],
  ] as const) {
    const samples = Float32Array.from({length: 8000}, (_, i) => 0.3 * Math.sin((2 * Math.PI * hz * i) / 16000))
    writeFileSync(at('clips', name), encodeWav16({sampleRate: 16000, channels: [samples]}))
  }
  const fetched = vipant(['fetch', 'folder', at('clips'), '-o', at('index.arrow')])
  assert.equal(fetched.status, 0, fetched.stderr.toString())
  return at('index.arrow')
}

const index = indexTable()
const MEL = ['--workers', '1', '--max-len', '100']

function melColumn(file: string): number[][] {
  const table = tableFromIPC(readFileSync(file))
  return table.toArray().map((row) => [...(row.mel.toArray() as Iterable<number>)].slice(0, 64) as number[])
}

/** Runs a bash command line to its end: its status and stderr. */
function bash(line: string): Promise<{status: number | null; stderr: string}> {
  const child = pipeline(line)
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  return new Promise((resolve) => child.on('close', (status) => resolve({status, stderr})))
}

function oneLine(stderr: string, pattern: RegExp) {
  const lines = stderr.trim().split('\n')
  assert.equal(lines.length, 1, stderr)
  assert.match(lines[0], pattern)
}

test(
  'mel reads an index table through a named FIFO, <(...) and a piped /dev/stdin as it reads the file',
  {timeout: 60_000},
  async () => {
    const direct = vipant(['mel', index, ...MEL, '-o', at('direct.arrow')])
    assert.equal(direct.status, 0, direct.stderr.toString())
    assert.deepEqual(
      melColumn(at('direct.arrow')).map((mel) => mel.length),
      [64, 64],
    )
    spawnSync('mkfifo', [at('table.fifo')])
    const runs = {
      fifo: `(cat ${index} > ${at('table.fifo')} &); vipant mel ${at('table.fifo')} ${MEL.join(' ')} -o ${at('fifo.arrow')}`,
      substitution: `vipant mel <(cat ${index}) ${MEL.join(' ')} -o ${at('substitution.arrow')}`,
      stdin: `cat ${index} | vipant mel /dev/stdin ${MEL.join(' ')} -o ${at('stdin.arrow')}`,
    }
    for (const [name, line] of Object.entries(runs)) {
      const run = await bash(line)
      assert.equal(run.status, 0, `${name}: ${run.stderr}`)
      assert.deepEqual(melColumn(at(`${name}.arrow`)), melColumn(at('direct.arrow')), name)
    }
  },
)

test(
  'what is not a table through a FIFO, or a FIFO among other inputs, is refused in one line',
  {timeout: 60_000},
  async () => {
    spawnSync('mkfifo', [at('wav.fifo')])
    const wav = await bash(
      `(cat ${at('clips', 'a.wav')} > ${at('wav.fifo')} &); vipant mel ${at('wav.fifo')} ${MEL.join(' ')} -o ${at('x.arrow')}`,
    )
    assert.equal(wav.status, 2)
    oneLine(wav.stderr, /wav\.fifo: not an Arrow IPC file or stream \(it starts with "RIFF"\)$/)
    const among = await bash(`vipant mel <(cat ${index}) ${at('clips')} ${MEL.join(' ')} -o ${at('y.arrow')}`)
    assert.equal(among.status, 2)
    oneLine(among.stderr, /\/dev\/fd\/\d+: one Arrow table at a time/)
  },
)
