import {test} from 'node:test'
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {readCsvRows} from '../src/lib/data/csv.js'
import {EOT_TOKEN, SOT_TOKEN, getTokenizer, tokenize, type TokenBatch} from '../src/lib/text/tokenizer.js'
import {UserError} from '../src/lib/util/errors.js'
import {fixture, sharedData, skipWithoutShared} from './helpers.js'

/** Written by test/reference/tokenizer.py, a written-out copy of CLIP's SimpleTokenizer and clip.tokenize. */
interface Expected {
  ids: number[]
  /** The used part of the clip.tokenize(..., truncate=True) row; the rest is zeros. */
  row: number[]
  truncated: boolean
}
interface Fixture {
  cases: (Expected & {text: string; decoded: string})[]
  /** Real captions, read from ../shared/data: data row `index` (header excluded) and `column` of `source`. */
  captions: (Expected & {source: string; index: number; column: string})[]
  decode: {ids: number[]; text: string}[]
}

const expected = JSON.parse(readFileSync(fixture('tokenizer', 'cases.json'), 'utf8')) as Fixture

function assertRow(batch: TokenBatch, index: number, want: Expected, label: string) {
  const {contextLength} = batch
  const row = Array.from(batch.ids.subarray(index * contextLength, (index + 1) * contextLength))
  assert.deepEqual(row, [...want.row, ...new Array<number>(contextLength - want.row.length).fill(0)], label)
  assert.equal(batch.truncated.includes(index), want.truncated, label)
}

test('clip.tokenize("Hello World!")', () => {
  const batch = tokenize(['Hello World!'])
  assert.equal(batch.ids.length, 77)
  assert.deepEqual(Array.from(batch.ids.subarray(0, 5)), [49406, 3306, 1002, 256, 49407])
  assert.ok(batch.ids.subarray(5).every((id) => id === 0))
  assert.deepEqual(batch.truncated, [])
})

test('encode, decode and clip.tokenize rows equal the Python reference', () => {
  const tokenizer = getTokenizer()
  const batch = tokenize(expected.cases.map((c) => c.text))
  expected.cases.forEach((c, i) => {
    const label = JSON.stringify(c.text)
    assert.deepEqual(tokenizer.encode(c.text), c.ids, label)
    assert.equal(tokenizer.decode(c.ids), c.decoded, label)
    assertRow(batch, i, c, label)
  })
})

test('decode replaces bytes of cut characters, rejects unknown ids', () => {
  const tokenizer = getTokenizer()
  for (const {ids, text} of expected.decode) assert.equal(tokenizer.decode(ids), text, JSON.stringify(ids))
  assert.throws(() => tokenizer.decode([49408]), RangeError)
})

test('real AudioCaps and Clotho captions equal the Python reference', {skip: skipWithoutShared}, async () => {
  const sources = new Map<string, Map<string, string>[]>()
  for (const source of new Set(expected.captions.map((c) => c.source))) {
    const columns = [...new Set(expected.captions.filter((c) => c.source === source).map((c) => c.column))]
    const rows: Map<string, string>[] = []
    for await (const row of readCsvRows(sharedData(...source.split('/')), columns)) {
      rows.push(new Map(columns.map((column) => [column, row.text(column)])))
    }
    sources.set(source, rows)
  }
  const texts = expected.captions.map((c) => sources.get(c.source)![c.index].get(c.column)!)
  const tokenizer = getTokenizer()
  const batch = tokenize(texts)
  expected.captions.forEach((c, i) => {
    const label = `${c.source} row ${c.index} ${c.column}: ${JSON.stringify(texts[i])}`
    assert.deepEqual(tokenizer.encode(texts[i]), c.ids, label)
    assertRow(batch, i, c, label)
  })
})

test('truncation keeps 77 tokens with EOT last, or refuses', () => {
  const long = Array.from({length: 100}, (_, i) => `word${i}`).join(' ')
  const batch = tokenize(['a dog barks', long, 'rain'])
  assert.deepEqual(batch.truncated, [1])
  const row = batch.ids.subarray(77, 154)
  assert.equal(row[0], SOT_TOKEN)
  assert.equal(row[76], EOT_TOKEN)
  assert.ok(row.every((id) => id !== 0))
  assert.deepEqual(Array.from(row.subarray(1, 76)), getTokenizer().encode(long).slice(0, 75))
  // The neighbours are untouched.
  assert.deepEqual(Array.from(batch.ids.subarray(154, 157)), [SOT_TOKEN, ...getTokenizer().encode('rain'), EOT_TOKEN])
  assert.throws(() => tokenize([long], 77, false), UserError)

  const short = tokenize(['one two three four five'], 4)
  assert.deepEqual(Array.from(short.ids), [SOT_TOKEN, ...getTokenizer().encode('one two'), EOT_TOKEN])
  assert.deepEqual(short.truncated, [0])
})

test('decode(encode(x)) gives back plain lower-case text, one space after each word', () => {
  const tokenizer = getTokenizer()
  for (const text of ['a dog barks while rain falls on a tin roof', 'birds chirp, then a car passes by!', 'x']) {
    const words = text.match(/[a-z]+|[^\sa-z]+/g)!
    assert.equal(tokenizer.decode(tokenizer.encode(text)), words.map((w) => w + ' ').join(''), text)
  }
})
