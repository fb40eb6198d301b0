import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {tableFromIPC} from '@uwdata/flechette'
import type {Field, RecordBatch} from '../src/lib/arrow/apache-arrow.js'
import {columnData, utf8, utf8List} from '../src/lib/arrow/columns.js'
import {sourceBatch, sourceSchema} from '../src/lib/arrow/stage.js'
import {tensorData, tensorField, type TensorType} from '../src/lib/arrow/tensor.js'
import {captionText, evaluateRetrieval} from '../src/lib/eval/retrieve.js'
import type {Embedder} from '../src/lib/towers/embedder.js'
import {UserError} from '../src/lib/util/errors.js'
import {pipeline, vipant} from './cli.js'
import {sharedData, skipWithoutShared} from './helpers.js'
import {TINY, writeTinyVipant, tinyFlags} from './tiny-models.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-retrieve-'))
const tinyModel = writeTinyVipant(dir)

const unit = (v: ArrayLike<number>) => {
  const n = Math.hypot(...Array.from(v))
  return Array.from(v, (x) => x / n)
}
const dot = (a: number[], b: number[]) => a.reduce((s, x, k) => s + x * b[k], 0)
/** 0-based position of `target` among `scores` sorted descending, the lower index first on ties. */
const positionOf = (scores: number[], target: number) =>
  scores.filter((s, j) => s > scores[target] || (s === scores[target] && j < target)).length

function run(command: string): Promise<{code: number; stderr: string}> {
  return new Promise((resolve) => {
    const child = pipeline(command)
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.stdout.resume()
    child.on('close', (code) => resolve({code: code ?? -1, stderr}))
  })
}

function readTable(file: string) {
  return tableFromIPC(readFileSync(file), {useProxy: false})
}

test('captions: the prompt, one space, the caption; an empty prompt adds nothing', () => {
  assert.equal(captionText('the sound of', 'A dog barks.'), 'the sound of A dog barks.')
  assert.equal(captionText('', 'A dog barks.'), 'A dog barks.')
})

test('a clip with other than 5 captions is refused, naming it', async () => {
  const fields = [utf8('id'), utf8List('captions'), tensorField('audio_emb', [2])]
  const schema = sourceSchema(fields, {command: 'test', version: '0', params: {}})
  const five = ['a', 'b', 'c', 'd', 'e']
  const columns = [
    columnData(fields[0], ['good', 'short clip']),
    columnData(fields[1], [five, five.slice(0, 4)]),
    tensorData(fields[2] as Field<TensorType>, [Float32Array.of(1, 0), Float32Array.of(0, 1)]),
  ]
  async function* batches(): AsyncIterable<RecordBatch> {
    yield sourceBatch(schema, columns)
  }
  const embedder: Embedder = {
    dims: {text: 2},
    sources: {text: dir},
    embed: async (_tower, rows) => rows.map(() => Float32Array.of(1, 0)),
    close: async () => {},
  }
  await assert.rejects(
    evaluateRetrieval({
      scored: {source: 'crafted.arrow', schema, batches: batches()},
      listing: null,
      dataset: 'table',
      split: null,
      prompt: '',
      maxLen: null,
      embedder,
      backend: 'none',
      version: '0',
    }),
    (e: Error) =>
      e instanceof UserError &&
      /crafted\.arrow: retrieval needs exactly 5 captions per clip; 1 clip differs: short clip \(4\)/.test(e.message),
  )
})

test(
  'retrieve --data clotho: R@k of both directions equal those recomputed from independently made embeddings; --query ranks by cosine',
  {skip: skipWithoutShared, timeout: 300_000},
  async () => {
    const model = await tinyModel
    const clotho = sharedData('clotho')
    const predictions = path.join(dir, 'ranks.arrow')
    const result = vipant([
      'retrieve',
      '--data',
      'clotho',
      clotho,
      ...tinyFlags(model),
      '--predictions',
      predictions,
      '--json',
    ])
    assert.equal(result.status, 0, result.stderr.toString())
    assert.match(
      result.stderr.toString(),
      /^retrieve: evaluated 7 of 1045 listed clips; 1038 not on disk, 35 captions$/m,
    )
    const report = JSON.parse(result.stdout.toString())
    assert.deepEqual(report.clips, {listed: 1045, evaluated: 7, missing: 1038, failed: 0})
    assert.equal(report.captions, 35)
    assert.deepEqual(
      {
        split: report.protocol.split,
        prompt: report.protocol.prompt,
        max_len: report.protocol.max_len,
        scoring: report.protocol.scoring,
      },
      {split: 'evaluation', prompt: 'the sound of', max_len: TINY.audioMaxLen, scoring: 'cosine'},
    )
    assert.match(
      report.model.audio.files.find((f: {name: string}) => f.name === 'model.safetensors').sha256,
      /^[0-9a-f]{64}$/,
    )
    assert.equal(report.audio_to_text.queries, 7)
    assert.equal(report.text_to_audio.queries, 35)

    // The same clips through the separate commands, then the captions (prompted here) through the text tower.
    const audioFile = path.join(dir, 'audio.arrow')
    const q = (s: string) => JSON.stringify(s)
    const made = await run(
      `vipant fetch clotho ${q(clotho)} --split evaluation | vipant mel --max-len ${TINY.audioMaxLen} | vipant embed --model ${q(model)} --clip ${q(model)} -o ${q(audioFile)}`,
    )
    assert.equal(made.code, 0, made.stderr)
    const audioTable = readTable(audioFile)
    const audio = (audioTable.getChild('audio_emb').toArray() as Float32Array[]).map(unit)
    const ids = audioTable.getChild('id').toArray() as string[]
    const captions = (audioTable.getChild('captions').toArray() as string[][]).flat()
    assert.equal(captions.length, 35)
    const queries = ['a dog barks', 'someone turns the pages of a book']
    const textsFile = path.join(dir, 'texts.txt')
    writeFileSync(textsFile, [...captions.map((c) => `the sound of ${c}`), ...queries].join('\n') + '\n')
    const textFile = path.join(dir, 'text.arrow')
    const embedded = vipant(['embed', '--model', model, '--clip', model, '--text-file', textsFile, '-o', textFile])
    assert.equal(embedded.status, 0, embedded.stderr.toString())
    const textAll = (readTable(textFile).getChild('text_emb').toArray() as Float32Array[]).map(unit)
    const text = textAll.slice(0, 35)

    const sim = audio.map((a) => text.map((t) => dot(a, t)))
    const a2t = sim.map((row, i) => Math.min(...[0, 1, 2, 3, 4].map((k) => positionOf(row, 5 * i + k))))
    const t2a = text.map((_, c) =>
      positionOf(
        sim.map((row) => row[c]),
        Math.floor(c / 5),
      ),
    )
    const recall = (ranks: number[], k: number) => (100 * ranks.filter((r) => r < k).length) / ranks.length
    for (const k of [1, 5, 10]) {
      assert.ok(Math.abs(report.audio_to_text[`r${k}`] - recall(a2t, k)) < 1e-9, `A->T R@${k}`)
      assert.ok(Math.abs(report.text_to_audio[`r${k}`] - recall(t2a, k)) < 1e-9, `T->A R@${k}`)
    }
    // The predictions table: one row per query, with the ranks found here.
    const ranks = readTable(predictions)
    const direction = ranks.getChild('direction').toArray() as string[]
    const rank = Array.from(ranks.getChild('rank').toArray() as Int32Array)
    assert.deepEqual(
      rank.filter((_, r) => direction[r] === 'audio_to_text'),
      a2t.map((r) => r + 1),
      '1-based',
    )
    assert.deepEqual(
      rank.filter((_, r) => direction[r] === 'text_to_audio'),
      t2a.map((r) => r + 1),
    )
    assert.deepEqual(
      (ranks.getChild('id').toArray() as string[]).filter((_, r) => direction[r] === 'audio_to_text'),
      ids,
    )

    // Free search over the embedded table, read from stdin: the order of a direct cosine ranking.
    const searched = vipant(
      [
        'retrieve',
        '--query',
        queries[0],
        '--query',
        queries[1],
        '--model',
        model,
        '--clip',
        model,
        '-k',
        '4',
        '--json',
      ],
      {input: readFileSync(audioFile)},
    )
    assert.equal(searched.status, 0, searched.stderr.toString())
    assert.match(searched.stderr.toString(), /^retrieve: searched 7 clips, 2 queries, top 4 each$/m)
    const found = JSON.parse(searched.stdout.toString()) as {
      query: string
      results: {rank: number; id: string; score: number}[]
    }[]
    assert.deepEqual(
      found.map((f) => f.query),
      queries,
    )
    queries.forEach((_, j) => {
      const scores = audio.map((a) => dot(a, textAll[35 + j]))
      const order = ids
        .map((_, i) => i)
        .sort((a, b) => scores[b] - scores[a] || a - b)
        .slice(0, 4)
      assert.deepEqual(
        found[j].results.map((r) => r.id),
        order.map((i) => ids[i]),
      )
      found[j].results.forEach((r, n) => assert.ok(Math.abs(r.score - scores[order[n]]) < 1e-6))
    })
    // INDEX named after --query is the table, not another query.
    const named = vipant([
      'retrieve',
      '--query',
      queries[0],
      audioFile,
      '--model',
      model,
      '--clip',
      model,
      '-k',
      '2',
      '--json',
    ])
    assert.equal(named.status, 0, named.stderr.toString())
    assert.match(named.stderr.toString(), /^retrieve: searched 7 clips, 1 query, top 2 each$/m)
    assert.deepEqual(
      JSON.parse(named.stdout.toString())[0].results.map((r: {id: string}) => r.id),
      found[0].results.slice(0, 2).map((r) => r.id),
    )

    // Without --data, the embedded table itself is evaluated: the same protocol, the same numbers.
    const fromTable = vipant(['retrieve', audioFile, '--model', model, '--clip', model, '--json'])
    assert.equal(fromTable.status, 0, fromTable.stderr.toString())
    assert.match(fromTable.stderr.toString(), /^retrieve: evaluated 7 clips, 35 captions$/m)
    const tableReport = JSON.parse(fromTable.stdout.toString())
    assert.deepEqual(
      {dataset: tableReport.protocol.dataset, max_len: tableReport.protocol.max_len},
      {dataset: 'table', max_len: TINY.audioMaxLen},
    )
    for (const dir of ['audio_to_text', 'text_to_audio']) {
      for (const [key, value] of Object.entries(report[dir]))
        assert.ok(Math.abs(tableReport[dir][key] - (value as number)) < 1e-9, `${dir}.${key}`)
    }

    // --audio: one clip's file against the table's 35 captions as written, by cosine with the table's text_emb.
    const clipPath = (audioTable.getChild('path').toArray() as string[])[2]
    const withText = path.join(dir, 'with-text.arrow')
    const textAdded = vipant(['embed', audioFile, '--tower', 'text', '--model', model, '--clip', model, '-o', withText])
    assert.equal(textAdded.status, 0, textAdded.stderr.toString())
    const captionEmb = (readTable(withText).getChild('text_emb').toArray() as Float32Array[]).flatMap((row) =>
      [0, 1, 2, 3, 4].map((k) => unit(row.subarray(k * (row.length / 5), (k + 1) * (row.length / 5)))),
    )
    const captionScores = captionEmb.map((t) => dot(audio[2], t))
    const best = captions
      .map((_, q) => q)
      .sort((a, b) => captionScores[b] - captionScores[a] || a - b)
      .slice(0, 3)
    // The table with text_emb (used as it is) and the one without (captions embedded here) give one answer.
    for (const input of [withText, audioFile]) {
      const heard = vipant(['retrieve', input, '--audio', clipPath, ...tinyFlags(model), '-k', '3', '--json'])
      assert.equal(heard.status, 0, heard.stderr.toString())
      const result = JSON.parse(heard.stdout.toString()) as {
        audio: string
        results: {rank: number; id: string; caption: string; score: number}[]
      }
      assert.equal(result.audio, clipPath)
      assert.deepEqual(
        result.results.map((r) => r.caption),
        best.map((c) => captions[c]),
      )
      assert.deepEqual(
        result.results.map((r) => r.id),
        best.map((c) => ids[Math.floor(c / 5)]),
      )
      result.results.forEach((r, n) =>
        assert.ok(Math.abs(r.score - captionScores[best[n]]) < 1e-5, `${input}: score ${n}`),
      )
    }
  },
)

test('retrieve --audio without --model, and --audio with --predictions: refused in one line', () => {
  assert.equal(
    vipant(['retrieve', 'x.arrow', '--audio', 'a.wav']).stderr.toString(),
    'vipant retrieve: --audio needs --model, the audio tower\n',
  )
  assert.equal(
    vipant(['retrieve', 'x.arrow', '--audio', 'a.wav', '--model', 'm', '--predictions', 'p.arrow']).stderr.toString(),
    'vipant retrieve: --predictions goes with an evaluation, not a search\n',
  )
})

test('retrieve --data without a directory: one line naming where it looked and what to do', () => {
  const result = vipant(['retrieve', '--data', 'clotho', '--model', 'x'], {env: {VIPANT_HOME: dir}})
  assert.equal(result.status, 2)
  assert.equal(
    result.stderr.toString(),
    `vipant retrieve: clotho is not in ${path.join(dir, 'data', 'clotho')}: put it there, or name its directory (vipant retrieve --data clotho DIR)\n`,
  )
})

test(
  "retrieve --data clotho without --model evaluates the released checkpoint behind the paper's number; offline and absent, one line",
  {skip: skipWithoutShared},
  () => {
    const result = vipant(['retrieve', '--data', 'clotho', sharedData('clotho'), '--offline'], {
      env: {VIPANT_HOME: path.join(dir, 'empty-home')},
    })
    assert.equal(result.status, 2)
    const lines = result.stderr.toString().trim().split('\n')
    assert.equal(
      lines[0],
      'retrieve: --model vipant-clotho (VIP-ANT VA audio tower, step 00043681: Clotho retrieval (10 s and 18 s); --model to evaluate another)',
    )
    assert.match(lines[lines.length - 1], /model vipant-clotho is not in .*empty-home\/models/)
  },
)
