import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, readdirSync, readFileSync} from 'node:fs'
import {Readable} from 'node:stream'
import os from 'node:os'
import path from 'node:path'
import {tableFromIPC} from '@uwdata/flechette'
import {makeVector, Schema, vectorFromArray, type RecordBatch, type Vector} from '../src/lib/arrow/apache-arrow.js'
import {columnData, float64, int32, utf8, utf8List} from '../src/lib/arrow/columns.js'
import {isArrowPath, openTableInput} from '../src/lib/arrow/input.js'
import {openTableOutput} from '../src/lib/arrow/output.js'
import {readStages, requireParams} from '../src/lib/arrow/provenance.js'
import {sourceBatch, sourceSchema, stageBatch, stageSchema} from '../src/lib/arrow/stage.js'
import {tensorData, tensorField, tensorRow, tensorShape, type TensorType} from '../src/lib/arrow/tensor.js'
import type {Field} from '../src/lib/arrow/apache-arrow.js'

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'vipant-arrow-'))
const ramp = (n: number, from: number) => Float32Array.from({length: n}, (_, i) => from + i * 0.5)

/** A small table shaped like a mel stage's output: ids, captions, a fixed tensor and a ragged one. */
function sampleTable(rows: number) {
  const fields = [utf8('id'), utf8List('captions'), tensorField('mel', [3, 4]), tensorField('images', [-1, 2])]
  const schema = sourceSchema(fields, {command: 'test', version: '0', params: {k: 1}})
  const ids = Array.from({length: rows}, (_, i) => `clip${i}`)
  const mels = ids.map((_, i) => (i === 1 ? null : ramp(12, i)))
  const images = ids.map((_, i) => ramp(2 * (i + 1), -i))
  const captions = ids.map((_, i) => (i % 2 ? null : [`a, "quoted" caption ${i}`, 'second']))
  const batch = sourceBatch(schema, [
    columnData(fields[0], ids),
    columnData(fields[1], captions),
    tensorData(fields[2] as Field<TensorType>, mels),
    tensorData(fields[3] as Field<TensorType>, images),
  ])
  return {schema, batch, ids, mels, images, captions}
}

async function writeTable(file: string, schema: Schema, batches: RecordBatch[]) {
  const out = openTableOutput(schema, file)
  for (const b of batches) await out.write(b)
  await out.close()
}

async function readRows(input: Awaited<ReturnType<typeof openTableInput>>) {
  const rows: {id: string; mel: number[] | null; images: number[] | null; captions: string[] | null}[] = []
  for await (const b of input.batches) {
    for (let i = 0; i < b.numRows; i++) {
      const mel = tensorRow(b.getChild('mel')!, i)
      const images = tensorRow(b.getChild('images')!, i)
      const caps = b.getChild('captions')!.get(i)
      rows.push({
        id: b.getChild('id')!.get(i),
        mel: mel && [...mel],
        images: images && [...images],
        captions: caps && [...caps],
      })
    }
  }
  return rows
}

for (const ext of ['arrow', 'arrows']) {
  test(`tensors, lists and metadata round-trip through an IPC ${ext === 'arrow' ? 'file' : 'stream'}`, async () => {
    const {schema, batch, ids, mels, images, captions} = sampleTable(5)
    const file = path.join(tmp(), `t.${ext}`)
    await writeTable(file, schema, [batch.slice(0, 2), batch.slice(2)])
    assert.equal(await isArrowPath(file), true)
    const input = await openTableInput(file)
    assert.deepEqual(tensorShape(input.schema.fields[2]), [3, 4])
    assert.deepEqual(tensorShape(input.schema.fields[3]), [-1, 2])
    assert.equal(input.schema.fields[2].type.toString(), 'FixedSizeList[12]<Float32>')
    assert.equal(input.schema.fields[3].type.toString(), 'List<Float32>')
    assert.deepEqual(readStages(input.schema), [
      {command: 'test', version: '0', params: {k: 1}, columns: ['id', 'captions', 'mel', 'images']},
    ])
    const rows = await readRows(input)
    assert.deepEqual(
      rows.map((r) => r.id),
      ids,
    )
    assert.deepEqual(
      rows.map((r) => r.mel),
      mels.map((m) => m && [...m]),
    )
    assert.deepEqual(
      rows.map((r) => r.images),
      images.map((m) => [...m]),
    )
    assert.deepEqual(
      rows.map((r) => r.captions),
      captions,
    )
  })
}

test('an IPC file arriving through a pipe is read batch by batch, spooled to disk rather than memory', async () => {
  const {schema, batch, ids} = sampleTable(6)
  const file = path.join(tmp(), 't.arrow')
  await writeTable(file, schema, [batch.slice(0, 3), batch.slice(3)])
  const pipe = Object.assign(Readable.from([readFileSync(file)]), {isTTY: false}) as unknown as NodeJS.ReadStream
  const input = await openTableInput('-', pipe)
  assert.equal(input.source, 'stdin')
  const sizes: number[] = []
  const seen: string[] = []
  for await (const b of input.batches) {
    sizes.push(b.numRows)
    for (let i = 0; i < b.numRows; i++) seen.push(b.getChild('id')!.get(i))
  }
  assert.deepEqual(sizes, [3, 3])
  assert.deepEqual(seen, ids)
})

test('a failed write leaves no file under the target name', async () => {
  const {schema, batch} = sampleTable(3)
  const dir = tmp()
  const out = openTableOutput(schema, path.join(dir, 'partial.arrow'))
  await out.write(batch)
  await out.abort()
  assert.deepEqual(readdirSync(dir), [])
})

test('stdout that is a terminal is refused with a hint', () => {
  const {schema} = sampleTable(1)
  const tty = {isTTY: true} as NodeJS.WriteStream
  assert.throws(
    () => openTableOutput(schema, undefined, tty),
    /refusing to write binary Arrow to a terminal: .* -o FILE/,
  )
})

test('no input named and stdin a terminal: a one-line hint', async () => {
  await assert.rejects(
    openTableInput(undefined, {isTTY: true} as NodeJS.ReadStream),
    /no input: name an Arrow file, or pipe one in/,
  )
})

test('a file that is not Arrow is refused naming the file', async () => {
  const file = path.join(tmp(), 'notes.arrow')
  await import('node:fs/promises').then((fs) => fs.writeFile(file, 'id,path\n1,a.wav\n'))
  await assert.rejects(openTableInput(file), (e: Error) =>
    e.message.startsWith(`${file}: not a readable Arrow IPC file or stream`),
  )
  await assert.rejects(openTableInput(path.join(tmp(), 'none.arrow')), /none\.arrow: no such file/)
})

test('a stage passes other columns through, appends its own and records its parameters', () => {
  const {schema, batch} = sampleTable(4)
  const own = [utf8('captions'), utf8('status')]
  const out = stageSchema(schema, own, {command: 'later', version: '1', params: {norms: [1, 2]}})
  assert.deepEqual(
    out.fields.map((f) => f.name),
    ['id', 'mel', 'images', 'captions', 'status'],
  )
  assert.deepEqual(
    readStages(out).map((s) => s.command),
    ['test', 'later'],
  )
  const next = stageBatch(out, batch.slice(1, 3), [columnData(own[0], ['x', 'y']), columnData(own[1], ['ok', 'ok'])])
  assert.equal(next.numRows, 2)
  assert.equal(next.getChild('id')!.get(0), 'clip1')
  assert.equal(next.getChild('captions')!.get(1), 'y')
  assert.deepEqual([...tensorRow(next.getChild('mel')!, 1)!], [...ramp(12, 2)])

  assert.doesNotThrow(() => requireParams(out, 'in.arrow', 'captions', {norms: [1, 2]}))
  assert.throws(
    () => requireParams(out, 'in.arrow', 'captions', {norms: null}),
    (e: Error) =>
      e.message === "in.arrow: column captions was made by 'vipant later' with norms=[1,2], this needs null",
  )
})

test('an independent Arrow implementation (flechette) reads vipant files with the same values', async () => {
  const {schema, batch, ids, mels, images, captions} = sampleTable(5)
  for (const ext of ['arrow', 'arrows']) {
    const file = path.join(tmp(), `t.${ext}`)
    await writeTable(file, schema, [batch.slice(0, 2), batch.slice(2)])
    const table = tableFromIPC(readFileSync(file), {useProxy: false})
    assert.deepEqual(table.getChild('id').toArray(), ids)
    const mel = table.getChild('mel').toArray() as (Float32Array | null)[]
    assert.deepEqual(
      mel.map((m) => m && [...m]),
      mels.map((m) => m && [...m]),
    )
    const imgs = table.getChild('images').toArray() as Float32Array[]
    assert.deepEqual(
      imgs.map((m) => [...m]),
      images.map((m) => [...m]),
    )
    assert.deepEqual(table.getChild('captions').toArray(), captions)
    const melField = table.schema.fields.find((f) => f.name === 'mel')!
    assert.equal(melField.metadata!.get('shape'), '[3,4]')
    assert.ok(table.schema.metadata!.get('vipant.stages')!.includes('"command":"test"'))
  }
})

test("columnData lays out vipant's four plain types as apache-arrow's builders do, value for value", () => {
  const columns: [Field, unknown[]][] = [
    [utf8('s'), ['a', null, '', 'héllo', '日本語', '🎵 x', undefined, 'z'.repeat(100)]],
    [int32('i'), [1, null, -7, 2 ** 31 - 1, undefined, 0]],
    [float64('f'), [0.5, null, -1e300, Number.NaN, undefined, 3]],
    [utf8List('l'), [['a', 'bé'], null, [], ['🎵'], undefined, ['', 'x', 'y']]],
  ]
  for (const [field, values] of columns) {
    const ours = makeVector(columnData(field, values))
    const builders = vectorFromArray(
      values.map((v) => v ?? null),
      field.type,
    )
    const read = (v: Vector) =>
      Array.from({length: v.length}, (_, i) => JSON.stringify(v.get(i)?.toArray?.() ?? v.get(i)))
    assert.deepEqual(read(ours), read(builders), field.name)
    assert.equal(ours.nullCount, builders.nullCount, field.name)
  }
})
