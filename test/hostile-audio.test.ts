import {test} from 'node:test'
import assert from 'node:assert/strict'
import {chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type {Field} from '../src/lib/arrow/apache-arrow.js'
import {tableFromIPC} from '@uwdata/flechette'
import {execa} from 'execa'
import {columnData, int32, utf8, utf8List} from '../src/lib/arrow/columns.js'
import type {TableInput} from '../src/lib/arrow/input.js'
import {openTableOutput} from '../src/lib/arrow/output.js'
import {sourceBatch, sourceSchema} from '../src/lib/arrow/stage.js'
import {tensorData, tensorField, type TensorType} from '../src/lib/arrow/tensor.js'
import {decodeAudio} from '../src/lib/audio/decode.js'
import {runTool} from '../src/lib/util/ffmpeg.js'
import {DEFAULT_MEL} from '../src/lib/audio/mel-config.js'
import {melParams} from '../src/lib/data/mel-stage.js'
import {decodeWav} from '../src/lib/audio/wav.js'
import {embedStage, embedStageSchema, type EmbedOptions} from '../src/lib/model/embed-stage.js'
import type {Embedder} from '../src/lib/towers/embedder.js'
import {UserError} from '../src/lib/util/errors.js'
import {vipant} from './cli.js'
import {sharedData, skipWithoutShared} from './helpers.js'
import {TINY, writeTinyVipant} from './tiny-models.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-hostile-audio-'))
const tinyModel = writeTinyVipant(dir)

interface WavSpec {
  rate?: number
  channels?: number
  /** 16-bit PCM, or 32-bit float (format tag 3). */
  float?: boolean
  frames?: number
  /** What the data chunk claims, when it is not what follows. */
  dataSize?: number
  sample?: (i: number) => number
}

/** A canonical 44-byte-header WAV whose fields say whatever the test wants, whatever follows them. */
function wav(spec: WavSpec = {}): Buffer {
  const {
    rate = 16000,
    channels = 1,
    float = false,
    frames = 16000,
    dataSize,
    sample = (i: number) => 0.25 * Math.sin(i / 10),
  } = spec
  const bytes = float ? 4 : 2
  const data = frames * channels * bytes
  const b = Buffer.alloc(44 + data)
  b.write('RIFF', 0)
  b.writeUInt32LE(36 + data, 4)
  b.write('WAVEfmt ', 8)
  b.writeUInt32LE(16, 16)
  b.writeUInt16LE(float ? 3 : 1, 20)
  b.writeUInt16LE(channels, 22)
  b.writeUInt32LE(rate, 24)
  b.writeUInt32LE((rate * channels * bytes) >>> 0, 28)
  b.writeUInt16LE((channels * bytes) & 0xffff, 32)
  b.writeUInt16LE(8 * bytes, 34)
  b.write('data', 36)
  b.writeUInt32LE(dataSize ?? data, 40)
  for (let i = 0; i < frames * channels; i++) {
    if (float) b.writeFloatLE(sample(i), 44 + 4 * i)
    else b.writeInt16LE(Math.round(32767 * sample(i)), 44 + 2 * i)
  }
  return b
}

const refused = (bytes: Buffer, message: string) =>
  assert.throws(
    () => decodeWav(bytes, 'x.wav'),
    (err: Error) => err instanceof UserError && err.message === `x.wav: ${message}`,
  )

test('impossible WAV rates and channel counts are refused before anything is sized by them', () => {
  refused(wav({rate: 4294967295}), 'impossible sample rate 4294967295 Hz (vipant reads 1 Hz to 768 kHz)')
  refused(wav({rate: 1e9}), 'impossible sample rate 1000000000 Hz (vipant reads 1 Hz to 768 kHz)')
  refused(wav({rate: 768001}), 'impossible sample rate 768001 Hz (vipant reads 1 Hz to 768 kHz)')
  refused(wav({rate: 0}), 'impossible sample rate 0 Hz (vipant reads 1 Hz to 768 kHz)')
  refused(wav({channels: 0, frames: 0, dataSize: 32000}), 'impossible channel count 0 (vipant reads 1 to 512)')
  refused(wav({channels: 65535, frames: 0, dataSize: 32000}), 'impossible channel count 65535 (vipant reads 1 to 512)')
  assert.equal(decodeWav(wav({rate: 768000}), 'x.wav').sampleRate, 768000)
  assert.equal(decodeWav(wav({channels: 512, frames: 10}), 'x.wav').channels.length, 512)
  // A data chunk claiming more than the file holds yields what is there, as sox and ffmpeg read it.
  const long = decodeWav(wav({frames: 1000, dataSize: 0xfffffff0}), 'x.wav')
  assert.equal(long.channels[0].length, 1000)
  assert.equal(
    decodeWav(wav({frames: 1000, dataSize: 0xfffffff0}).subarray(0, 44 + 1001), 'x.wav').channels[0].length,
    500,
  )
})

test('a file that decodes to more than 2^28 samples is refused before the samples are allocated', async () => {
  // 8-bit mono: one byte a sample. The zero pages past the header are never touched, so this costs no memory.
  const big = new Uint8Array(44 + 2 ** 28 + 8)
  big.set(wav({frames: 0}).subarray(0, 44))
  const view = new DataView(big.buffer)
  view.setUint16(32, 1, true)
  view.setUint16(34, 8, true)
  view.setUint32(40, 2 ** 28 + 8, true)
  assert.throws(() => decodeWav(big, 'x.wav'), {
    message: `x.wav: ${2 ** 28 + 8} samples, over the ${2 ** 28} vipant decodes from one file`,
  })
  // Through ffmpeg the cap is on its output: here a 2 s tone (a small FLAC, 125 KiB decoded) against a 64 KiB cap.
  const tone = path.join(mkdtempSync(path.join(os.tmpdir(), 'vipant-cap-')), 'tone.flac')
  await execa('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=r=16000:d=2', tone])
  const args = ['-v', 'error', '-i', tone, '-f', 'wav', '-c:a', 'pcm_f32le', 'pipe:1']
  await assert.rejects(runTool('ffmpeg', args, 'tone', 65536), {
    message: "tone: ffmpeg's output is over the 65536 bytes vipant reads from it",
  })
})

test('a float WAV holding NaN or Infinity is refused, naming the sample; finite values beyond 1 clip as in sox', () => {
  refused(wav({float: true, frames: 100, sample: (i) => (i === 50 ? NaN : 0.1)}), 'sample 50 of channel 0 is NaN')
  refused(
    wav({float: true, channels: 2, frames: 100, sample: (i) => (i === 7 ? -Infinity : 0.1)}),
    'sample 3 of channel 1 is -Infinity',
  )
  const loud = decodeWav(wav({float: true, frames: 2, sample: (i) => (i === 0 ? 1e30 : -1e30)}), 'x.wav')
  assert.deepEqual([...loud.channels[0]], [1, -1])
})

test('through ffmpeg: NaN samples, an impossible reported rate and a header-only file are errors naming the file', async () => {
  const nan = path.join(dir, 'nan.wav')
  writeFileSync(nan, wav({float: true, frames: 1000, sample: (i) => (i === 500 ? NaN : 0.1)}))
  const w64 = path.join(dir, 'nan.w64')
  await execa('ffmpeg', ['-v', 'error', '-y', '-i', nan, '-c:a', 'copy', w64])
  await assert.rejects(decodeAudio(w64), {
    message: `${w64}: channel 0 of the decoded audio holds NaN at value 500 of 1000`,
  })

  // An ffmpeg that reports 4 GHz: its header gets the checks a WAV file's gets.
  const fake = path.join(dir, 'fake-ffmpeg')
  writeFileSync(path.join(dir, 'ghz.wav'), wav({float: true, rate: 4294967295, frames: 8}))
  writeFileSync(fake, `#!/bin/sh\ncat ${path.join(dir, 'ghz.wav')}\n`)
  chmodSync(fake, 0o755)
  const flac = path.join(dir, 'a.flac')
  writeFileSync(flac, 'not read by the fake')
  process.env.VIPANT_FFMPEG = fake
  try {
    await assert.rejects(decodeAudio(flac), {
      message: `${flac}: impossible sample rate 4294967295 Hz (vipant reads 1 Hz to 768 kHz)`,
    })
  } finally {
    delete process.env.VIPANT_FFMPEG
  }

  const empty = path.join(dir, 'empty.flac')
  await execa('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'anullsrc=r=16000:cl=mono', '-t', '0', empty])
  await assert.rejects(decodeAudio(empty), {message: `${empty}: no audio frames decoded`})
  const header = path.join(dir, 'header.wav')
  writeFileSync(header, wav({frames: 0}))
  await assert.rejects(decodeAudio(header), {message: `${header}: no audio frames decoded`})
})

/** The rows of an Arrow file, as plain objects of the named columns. */
function rows(file: string, names: string[]): Record<string, unknown>[] {
  const table = tableFromIPC(readFileSync(file), {useProxy: false})
  const columns = names.map((n) => table.getChild(n).toArray() as unknown[])
  return Array.from({length: table.numRows}, (_, i) => Object.fromEntries(names.map((n, j) => [n, columns[j][i]])))
}

test(
  'mel over a folder: each hostile clip is its own error row, the good ones come through, memory stays small',
  {timeout: 120_000},
  () => {
    const folder = mkdtempSync(path.join(dir, 'clips-'))
    const clips: Record<string, Buffer> = {
      'a-good.wav': wav(),
      'b-4ghz.wav': wav({rate: 4294967295}),
      'c-1ghz.wav': wav({rate: 1e9}),
      'd-65535ch.wav': wav({channels: 65535, frames: 0, dataSize: 32000}),
      'e-nan.wav': wav({float: true, sample: (i) => (i === 500 ? NaN : 0.1)}),
      'f-header.wav': wav({frames: 0}),
      'g-short.wav': wav({frames: 100}),
      'h-id3-only.mp3': Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00', 'latin1'),
      'i-good.wav': wav({rate: 44100, frames: 44100}),
    }
    for (const [name, bytes] of Object.entries(clips)) writeFileSync(path.join(folder, name), bytes)
    const out = path.join(dir, 'mel.arrow')
    const r = vipant(['mel', folder, '--max-len', '200', '--workers', '2', '-o', out])
    assert.equal(r.status, 0, r.stderr.toString())
    const summary = /mel: 9 clips \(2 ok, 0 missing, 7 errors\).* peak memory (\d+) MB/.exec(r.stderr.toString())
    assert.ok(summary, r.stderr.toString())
    assert.ok(Number(summary[1]) < 400, `peak RSS ${summary[1]} MB`)
    const got = rows(out, ['id', 'status', 'error', 'mel_frames'])
    const file = (name: string) => path.join(folder, name)
    assert.deepEqual(
      got.map((row) => [row.id, row.status, row.error]),
      [
        ['a-good', 'ok', null],
        [
          'b-4ghz',
          'error',
          `${file('b-4ghz.wav')}: impossible sample rate 4294967295 Hz (vipant reads 1 Hz to 768 kHz)`,
        ],
        [
          'c-1ghz',
          'error',
          `${file('c-1ghz.wav')}: impossible sample rate 1000000000 Hz (vipant reads 1 Hz to 768 kHz)`,
        ],
        ['d-65535ch', 'error', `${file('d-65535ch.wav')}: impossible channel count 65535 (vipant reads 1 to 512)`],
        ['e-nan', 'error', `${file('e-nan.wav')}: sample 500 of channel 0 is NaN`],
        ['f-header', 'error', `${file('f-header.wav')}: no audio frames decoded`],
        ['g-short', 'error', `${file('g-short.wav')}: 100 samples at 16000 Hz is shorter than one 25 ms fbank frame`],
        ['h-id3-only', 'error', got[7].error],
        ['i-good', 'ok', null],
      ],
    )
    assert.match(String(got[7].error), new RegExp(`^${file('h-id3-only.mp3')}: `))
    assert.deepEqual([got[0].mel_frames, got[8].mel_frames], [98, 98])
  },
)

test(
  'a mel that comes out non-finite is a row error; --max-len beyond 12000 is refused in one line',
  {timeout: 60_000},
  () => {
    const clip = path.join(dir, 'tone.wav')
    writeFileSync(clip, wav())
    // A std of 1e-40 divides finite log-mels into float32 infinities.
    const out = path.join(dir, 'inf.arrow')
    const r = vipant(['mel', clip, '--max-len', '200', '--norms', '0,1e-40', '-o', out])
    assert.equal(r.status, 0, r.stderr.toString())
    const [row] = rows(out, ['status', 'error', 'mel'])
    assert.equal(row.status, 'error')
    assert.match(String(row.error), new RegExp(`^${clip}: the mel holds -?Infinity at value \\d+ of 25600$`))
    assert.equal(row.mel, null)

    const big = vipant(['mel', clip, '--max-len', '100000000', '-o', path.join(dir, 'big.arrow')])
    assert.equal(big.status, 2)
    assert.equal(
      big.stderr.toString(),
      'vipant mel: --max-len 100000000: expected 1 to 12000 frames (10 ms each; 2 minutes at most)\n',
    )
    assert.ok(!existsSync(path.join(dir, 'big.arrow')))
  },
)

test(
  'zeroshot --data and embed refuse a log-mel length beyond 12000 frames',
  {skip: skipWithoutShared, timeout: 120_000},
  async () => {
    const model = await tinyModel
    const zs = vipant([
      'zeroshot',
      '--data',
      'esc50',
      sharedData('esc50'),
      '--model',
      model,
      '--clip',
      model,
      '--max-len',
      '100000000',
    ])
    assert.equal(zs.status, 2)
    assert.match(
      zs.stderr.toString(),
      /^vipant zeroshot: --max-len 100000000: expected 1 to 12000 frames \(10 ms each; 2 minutes at most\)$/m,
    )
    const long = path.join(dir, 'long-mel.arrow')
    await writeTable(
      long,
      [utf8('id'), tensorField('mel', [12001, 128])],
      [[], []],
      'mel',
      melParams({...DEFAULT_MEL, maxLen: 12001}),
    )
    const embed = vipant(['embed', long, '--model', model, '-o', path.join(dir, 'long-emb.arrow')])
    assert.equal(embed.status, 2)
    assert.equal(
      embed.stderr.toString(),
      `vipant embed: ${long}: mel frames 12001: expected 1 to 12000 frames (10 ms each; 2 minutes at most)\n`,
    )
  },
)

async function writeTable(
  file: string,
  fields: Field[],
  columns: unknown[][],
  command: string,
  params: Record<string, unknown>,
) {
  const schema = sourceSchema(fields, {command, version: '0', params})
  const data = fields.map((f, i) =>
    f.metadata.has('shape')
      ? tensorData(f as Field<TensorType>, columns[i] as (Float32Array | null)[])
      : columnData(f, columns[i]),
  )
  const out = openTableOutput(schema, file)
  await out.write(sourceBatch(schema, data))
  await out.close()
}

test(
  'embed refuses a NaN mel, naming row and column, and a table with nothing for its towers, naming the columns',
  {timeout: 120_000},
  async () => {
    const model = await tinyModel
    const size = TINY.audioMaxLen * 128
    const mel = path.join(dir, 'nan-mel.arrow')
    const bad = new Float32Array(size)
    bad[5] = NaN
    const fields = [utf8('id'), tensorField('mel', [TINY.audioMaxLen, 128])]
    await writeTable(
      mel,
      fields,
      [
        ['a', 'b'],
        [new Float32Array(size), bad],
      ],
      'mel',
      melParams({...DEFAULT_MEL, maxLen: TINY.audioMaxLen}),
    )
    const out = path.join(dir, 'emb.arrow')
    const r = vipant(['embed', mel, '--model', model, '--workers', '1', '-o', out])
    assert.equal(r.status, 2, r.stderr.toString())
    const said = r.stderr
      .toString()
      .split('\n')
      .filter((l) => l.startsWith('vipant embed:'))
    assert.deepEqual(said, [`vipant embed: ${mel}: row 1 (id b): mel holds NaN at value 5 of ${size}`])
    assert.ok(!existsSync(out))

    // A folder index: no mel, and a class column with nothing in it.
    const index = path.join(dir, 'index.arrow')
    writeFileSync(path.join(dir, 'tone.wav'), wav())
    assert.equal(vipant(['fetch', 'folder', path.join(dir, 'tone.wav'), '-o', index]).status, 0)
    const empty = vipant(['embed', index, '--model', model, '--clip', model, '-o', out])
    assert.equal(empty.status, 2, empty.stderr.toString())
    const nothing =
      `vipant embed: ${index}: nothing for the text tower in 1 rows: every captions and class is null or empty ` +
      '(embed looks for mel, images, captions and class)'
    assert.ok(empty.stderr.toString().split('\n').includes(nothing), empty.stderr.toString())
    assert.ok(!existsSync(out))
  },
)

test('an embedding that comes out non-finite refuses the table, naming the output column', async () => {
  const fields = [utf8('id'), utf8List('captions')]
  const schema = sourceSchema(fields, {command: 'test', version: '0', params: {}})
  const input: TableInput = {
    source: 't.arrow',
    schema,
    batches: (async function* () {
      yield sourceBatch(schema, [columnData(fields[0], ['a', 'b']), columnData(fields[1], [['x'], ['y']])])
    })(),
  }
  const embedder: Embedder = {
    dims: {text: 2},
    sources: {},
    embed: async (_tower, items) => items.map((row) => Float32Array.from(row[0] === 'y' ? [0, Infinity] : [1, 0])),
    close: async () => {},
  }
  const options: EmbedOptions = {embedder, run: ['text'], normalize: false, batchSize: 8, window: 1}
  const batches = embedStage(input, embedStageSchema(input, options, '0'), options)
  await assert.rejects(
    async () => {
      for await (const _ of batches);
    },
    {message: 't.arrow: row 1 (id b): text_emb holds Infinity at value 1 of 2'},
  )
})

test('zeroshot and retrieve refuse an audio_emb holding NaN instead of scoring it', {timeout: 120_000}, async () => {
  const model = await tinyModel
  const emb = (k: number) => Float32Array.from({length: TINY.embed}, (_, j) => Math.cos(j + k))
  const nan = emb(2)
  nan[3] = NaN
  const captions = [0, 1, 2].map((k) => Array.from({length: 5}, (_, j) => `caption ${k}.${j}`))
  const table = path.join(dir, 'nan-emb.arrow')
  await writeTable(
    table,
    [utf8('id'), int32('label'), utf8('class'), utf8List('captions'), tensorField('audio_emb', [TINY.embed])],
    [['a', 'b', 'c'], [0, 1, 0], ['dog', 'cat', 'dog'], captions, [emb(0), emb(1), nan]],
    'embed',
    {normalized: false},
  )
  const want = `${table}: row 2 (id c): audio_emb holds NaN at value 3 of ${TINY.embed}`
  for (const command of ['zeroshot', 'retrieve']) {
    const r = vipant([command, table, '--model', model, '--clip', model, '--workers', '1'])
    assert.equal(r.status, 2, r.stderr.toString())
    assert.equal(
      r.stderr
        .toString()
        .split('\n')
        .filter((l) => l.startsWith(`vipant ${command}:`))
        .join('\n'),
      `vipant ${command}: ${want}`,
    )
    assert.equal(r.stdout.length, 0)
  }
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.endsWith('.tmp')),
    [],
  )
})
