import {after, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync, statSync} from 'node:fs'
import {Readable} from 'node:stream'
import os from 'node:os'
import path from 'node:path'
import {
  Dictionary,
  Field,
  Int32,
  Utf8,
  tableFromIPC,
  vectorFromArray,
  type RecordBatch,
  type Schema,
} from '../src/lib/arrow/apache-arrow.js'
import {columnData, int32, utf8} from '../src/lib/arrow/columns.js'
import {openTableOutput} from '../src/lib/arrow/output.js'
import {RowReader} from '../src/lib/arrow/row-reader.js'
import {sourceBatch, sourceSchema} from '../src/lib/arrow/stage.js'
import {tensorData, tensorField, tensorRow, type TensorType} from '../src/lib/arrow/tensor.js'
import {VIPANT_NORMS} from '../src/lib/audio/mel-config.js'
import {readPairTable} from '../src/lib/train/pair-table.js'
import {permutation} from '../src/lib/train/sampler.js'
import {mulberry32} from '../src/lib/util/rng.js'
import {UserError} from '../src/lib/util/errors.js'

const dirs: string[] = []
const tmp = (prefix = 'vipant-rows-') => dirs[dirs.push(mkdtempSync(path.join(os.tmpdir(), prefix))) - 1]
after(() => dirs.forEach((dir) => rmSync(dir, {recursive: true, force: true})))
const bits = (row: Float32Array | null | undefined) =>
  row ? Buffer.from(row.buffer, row.byteOffset, row.byteLength).toString('hex') : row

interface Rows {
  schema: Schema
  batches: RecordBatch[]
  mels: (Float32Array | null)[]
  images: Float32Array[]
}

/**
 * Rows of id, label, a fixed [frames, bins] mel (every 7th null; NaN, -0 and denormals to make "bit for bit"
 * mean something) and a ragged [-1, 2, 2, 1] images column after it, in batches of `batchRows`.
 */
function melRows(count: number, batchRows: number, frames = 3, bins = 4): Rows {
  const rng = mulberry32(11)
  const mel = tensorField('mel', [frames, bins])
  const images = tensorField('images', [-1, 2, 2, 1])
  const schema = sourceSchema([utf8('id'), int32('label'), mel, images], {
    command: 'test',
    version: '0',
    params: {num_mel_bins: bins, norms: VIPANT_NORMS},
  })
  const special = [NaN, -0, 1e-45, -Infinity]
  const mels = Array.from({length: count}, (_, i) =>
    i % 7 === 3
      ? null
      : Float32Array.from({length: frames * bins}, (_, k) => (k < 4 && i % 5 === 0 ? special[k] : rng() * 20 - 10)),
  )
  const imageRows = Array.from({length: count}, (_, i) => Float32Array.from({length: 4 * (1 + (i % 3))}, () => rng()))
  const batches: RecordBatch[] = []
  for (let at = 0; at < count; at += batchRows) {
    const ids = Array.from({length: Math.min(batchRows, count - at)}, (_, k) => at + k)
    batches.push(
      sourceBatch(schema, [
        columnData(
          schema.fields[0],
          ids.map((i) => `clip${i}`),
        ),
        columnData(
          schema.fields[1],
          ids.map((i) => i % 4),
        ),
        tensorData(
          mel as Field<TensorType>,
          ids.map((i) => mels[i]),
        ),
        tensorData(
          images as Field<TensorType>,
          ids.map((i) => imageRows[i]),
        ),
      ]),
    )
  }
  return {schema, batches, mels, images: imageRows}
}

async function write(file: string, {schema, batches}: Rows): Promise<void> {
  const out = openTableOutput(schema, file)
  for (const b of batches) await out.write(b)
  await out.close()
}

test('rows read on demand equal the written rows bit for bit, from an IPC file and an IPC stream', async () => {
  const dir = tmp()
  const rows = melRows(50, 8)
  for (const name of ['t.arrow', 't.stream']) {
    const file = path.join(dir, name)
    await write(file, rows)
    const reader = await RowReader.open(file)
    assert.equal(reader.numRows, 50)
    for (const i of permutation(50, mulberry32(3))) {
      assert.equal(bits(reader.row('mel', i)), bits(rows.mels[i]), `${name} mel row ${i}`)
      assert.equal(bits(reader.row('images', i)), bits(rows.images[i]), `${name} images row ${i}`)
    }
    // A batch boundary (rows 7 | 8), the null row 3 and the last row of the short last batch.
    assert.equal(reader.row('mel', 3), null)
    assert.equal(bits(reader.row('mel', 7)), bits(rows.mels[7]))
    assert.equal(bits(reader.row('mel', 8)), bits(rows.mels[8]))
    assert.equal(bits(reader.row('mel', 49)), bits(rows.mels[49]))
    assert.throws(() => reader.row('mel', 50), RangeError)
    assert.throws(() => reader.row('id', 0), /not a float32 tensor column/)
    reader.close()
  }
})

test('a shuffled pass over a table larger than the cache holds at most the budget and reads each row once', async () => {
  const dir = tmp()
  // 640 rows of 64x128 floats (32 KB) in 40 batches: a 20 MB table against a 2 MB cache.
  const rows = melRows(640, 16, 64, 128)
  const file = path.join(dir, 'big.arrow')
  await write(file, rows)
  const budget = 2 * 2 ** 20
  const reader = await RowReader.open(file, {cacheBytes: budget})
  const indexed = reader.bytesRead
  let peak = 0
  for (const i of permutation(640, mulberry32(9))) {
    assert.equal(bits(reader.row('mel', i)), bits(rows.mels[i]), `row ${i}`)
    peak = Math.max(peak, reader.cachedBytes)
  }
  assert.ok(peak <= budget && peak > budget / 2, `cache peak ${peak}`)
  const melBytes = rows.mels.reduce((n, m) => n + (m?.byteLength ?? 0), 0)
  // The rows themselves plus each batch's validity bits, read once: no whole batch per row.
  assert.ok(
    reader.bytesRead - indexed < melBytes + 40 * 4096,
    `read ${reader.bytesRead - indexed} for ${melBytes} of rows`,
  )
  assert.ok(indexed < 40 * 1024, `index pass read ${indexed} bytes`)
  reader.close()
})

test('scan decodes every column but the skipped tensor values, which it does not read', async () => {
  const dir = tmp()
  const rows = melRows(640, 16, 64, 128)
  for (const name of ['big.arrow', 'big.stream']) {
    const file = path.join(dir, name)
    await write(file, rows)
    const reader = await RowReader.open(file)
    const expected = tableFromIPC(readFileSync(file))
    let seen = 0
    for (const {start, batch} of reader.scan(['mel'])) {
      assert.equal(start, seen)
      for (let i = 0; i < batch.numRows; i++) {
        assert.equal(batch.getChild('id')!.get(i), `clip${start + i}`)
        assert.equal(batch.getChild('label')!.get(i), (start + i) % 4)
        assert.equal(batch.getChild('mel')!.isValid(i), rows.mels[start + i] !== null)
        assert.equal(
          bits(tensorRow(batch.getChild('images')!, i)),
          bits(tensorRow(expected.getChild('images')!, start + i)),
        )
      }
      seen += batch.numRows
    }
    assert.equal(seen, 640)
    assert.ok(
      reader.bytesRead < statSync(file).size / 10,
      `${name}: scan read ${reader.bytesRead} of ${statSync(file).size} bytes`,
    )
    reader.close()
  }
})

test('dictionary-encoded columns decode, replaced between the batches of a stream', async () => {
  const dir = tmp()
  const mel = tensorField('mel', [2, 128])
  const kind = new Field('class', new Dictionary(new Utf8(), new Int32()), true)
  const schema = sourceSchema([utf8('id'), kind, mel], {
    command: 'test',
    version: '0',
    params: {num_mel_bins: 128, norms: VIPANT_NORMS},
  })
  const names = [
    ['dog', 'dog', 'siren'],
    ['rain', 'wind'],
  ]
  let at = 0
  const batches = names.map((classes) => {
    const ids = classes.map(() => at++)
    return sourceBatch(schema, [
      columnData(
        schema.fields[0],
        ids.map((i) => `clip${i}`),
      ),
      vectorFromArray(classes, kind.type).data[0],
      tensorData(
        mel as Field<TensorType>,
        ids.map((i) => new Float32Array(256).fill(i)),
      ),
    ])
  })
  const file = path.join(dir, 'dict.stream')
  await write(file, {schema, batches, mels: [], images: []})
  const table = await readPairTable(file, 'audio-text', [], 'a sound of')
  assert.deepEqual(
    table.clips.map((c) => [c.className, c.captions![0], c.mel![0]]),
    names.flat().map((c, i) => [c, `a sound of ${c}`, i]),
  )
})

test('stdin and a FIFO are spooled to a temporary file that is gone once the reader is open', async () => {
  const dir = tmp()
  const rows = melRows(20, 6)
  const file = path.join(dir, 't.stream')
  await write(file, rows)
  const spool = tmp('vipant-spooldir-')
  const before = process.env.TMPDIR
  process.env.TMPDIR = spool
  try {
    await write(path.join(dir, 't.arrow'), rows)
    const stdin = await RowReader.open('-', {stdin: Readable.from([readFileSync(path.join(dir, 't.arrow'))])})
    assert.equal(stdin.source, 'stdin')
    assert.deepEqual(readdirSync(spool), [])
    for (let i = 0; i < 20; i++) assert.equal(bits(stdin.row('mel', i)), bits(rows.mels[i]))
    stdin.close()

    const fifo = path.join(dir, 'fifo')
    execFileSync('mkfifo', [fifo])
    createWriteStream(fifo).end(readFileSync(file))
    const piped = await RowReader.open(fifo)
    assert.deepEqual(readdirSync(spool), [])
    for (let i = 0; i < 20; i++) assert.equal(bits(piped.row('images', i)), bits(rows.images[i]))
    piped.close()

    await assert.rejects(
      RowReader.open('-', {stdin: Readable.from([Buffer.from('not arrow at all')])}),
      (e: Error) => e instanceof UserError && /^stdin: not a readable Arrow/.test(e.message),
    )
    await assert.rejects(RowReader.open('-', {stdin: Readable.from([])}), /stdin: empty input/)
    assert.deepEqual(readdirSync(spool), [])
  } finally {
    if (before === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = before
  }
  await assert.rejects(RowReader.open(path.join(dir, 'missing.arrow')), /missing.arrow: no such file/)
})

test('readPairTable: clips read their log-mels and frames on demand, equal to the eager decode', async () => {
  const dir = tmp()
  const rows = melRows(30, 4, 5, 128)
  const file = path.join(dir, 't.arrow')
  await write(file, rows)
  const eager = tableFromIPC(readFileSync(file))
  const table = await readPairTable(file, 'audio-image', [], 'a sound of')
  const usable = rows.mels.flatMap((m, i) => (m ? [i] : []))
  assert.equal(table.skipped, 30 - usable.length)
  assert.equal(table.melLength, 5)
  assert.deepEqual(
    table.clips.map((c) => c.id),
    usable.map((i) => `clip${i}`),
  )
  table.clips.forEach((clip, k) => {
    const i = usable[k]
    assert.equal(bits(clip.mel), bits(tensorRow(eager.getChild('mel')!, i)))
    const frames = tensorRow(eager.getChild('images')!, i)!
    assert.deepEqual(
      clip.frames!.map(bits),
      Array.from({length: frames.length / 4}, (_, f) => bits(frames.subarray(f * 4, f * 4 + 4))),
    )
  })
  // What the trainer does once it has embedded the frames.
  const clip = table.clips[0]
  clip.frameEmb = [new Float32Array(2)]
  clip.frames = undefined
  assert.equal(clip.frames, undefined)
  assert.equal(bits(clip.mel), bits(rows.mels[0]))
})
