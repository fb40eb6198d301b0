import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import {tableFromIPC} from '@uwdata/flechette'
import {columnData, utf8, utf8List} from '../src/lib/arrow/columns.js'
import {openTableOutput} from '../src/lib/arrow/output.js'
import {sourceBatch, sourceSchema} from '../src/lib/arrow/stage.js'
import {selectBackend} from '../src/lib/backend/index.js'
import {loadModelFile} from '../src/lib/checkpoint/load.js'
import {AudioEncoder} from '../src/lib/model/audio-encoder.js'
import {localEmbedder} from '../src/lib/model/embedder.js'
import {TextTransformer} from '../src/lib/model/clip-text.js'
import {pipeline, vipant} from './cli.js'
import {fixture, maxAbsDiff, sharedData, skipWithoutShared} from './helpers.js'
import {TINY, writeTinyVipant} from './tiny-models.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-embed-'))
const tinyModel = writeTinyVipant(dir)
const esc = [sharedData('esc50', 'audio', '1-56234-A-9.wav'), sharedData('esc50', 'audio', '2-100648-A-43.wav')]
const norm = (v: Float32Array) => Math.hypot(...v)

async function towers() {
  await selectBackend('wasm')
  const loaded = await loadModelFile(await tinyModel)
  return {
    audio: AudioEncoder.fromStateDict(loaded.audio!.weights, loaded.audio!.config),
    text: TextTransformer.fromStateDict(loaded.clip!),
  }
}

test(
  'mel | embed: audio_emb equals the audio tower on the same log-mels, normalised unless --raw',
  {skip: skipWithoutShared, timeout: 120_000},
  async () => {
    const model = await tinyModel
    const child = pipeline(
      `vipant mel ${esc.join(' ')} --max-len ${TINY.audioMaxLen} | vipant embed --model ${model} -o ${path.join(dir, 'emb.arrow')}`,
    )
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    assert.equal(await new Promise((resolve) => child.on('close', resolve)), 0, stderr)
    assert.match(stderr, /^engine (onnx: onnxruntime-node [\d.]+, cpu, 2 threads|tfjs: wasm .*, 2 worker threads)$/m)
    const mel = path.join(dir, 'mel.arrows')
    assert.equal(vipant(['mel', ...esc, '--max-len', String(TINY.audioMaxLen), '-o', mel]).status, 0)
    const raw = vipant(['embed', mel, '--model', model, '--raw', '--workers', '1', '-o', path.join(dir, 'raw.arrow')])
    assert.equal(raw.status, 0, raw.stderr.toString())

    const table = tableFromIPC(readFileSync(path.join(dir, 'emb.arrow')), {useProxy: false})
    const rawTable = tableFromIPC(readFileSync(path.join(dir, 'raw.arrow')), {useProxy: false})
    assert.deepEqual(table.schema.fields.map((f) => f.name).slice(-3), ['status', 'error', 'audio_emb'])
    assert.equal(table.schema.fields.at(-1)!.metadata!.get('shape'), `[${TINY.embed}]`)
    const mels = table.getChild('mel').toArray() as Float32Array[]
    const {audio} = await towers()
    const expected = audio.forward(
      tf.tensor3d(Float32Array.from(mels.flatMap((m) => [...m])), [2, TINY.audioMaxLen, 128]),
    )
    const want = expected.dataSync() as Float32Array
    const got = rawTable.getChild('audio_emb').toArray() as Float32Array[]
    assert.ok(maxAbsDiff(Float32Array.from([...got[0], ...got[1]]), want) < 1e-5)
    for (const [i, v] of (table.getChild('audio_emb').toArray() as Float32Array[]).entries()) {
      assert.ok(Math.abs(norm(v) - 1) < 1e-5)
      assert.ok(
        maxAbsDiff(
          v,
          got[i].map((x) => x / norm(got[i])),
        ) < 1e-5,
      )
    }
    assert.deepEqual(table.getChild('id').toArray(), ['1-56234-A-9', '2-100648-A-43'])
  },
)

test('embed --text makes a table of texts; captions become one embedding each', async () => {
  const model = await tinyModel
  const r = vipant([
    'embed',
    '--model',
    model,
    '--clip',
    model,
    '--text',
    'a dog barks',
    '--text',
    'Rain on a tin roof!',
    '-o',
    path.join(dir, 'q.arrow'),
  ])
  assert.equal(r.status, 0, r.stderr.toString())
  const q = tableFromIPC(readFileSync(path.join(dir, 'q.arrow')), {useProxy: false})
  assert.deepEqual(q.getChild('text').toArray(), ['a dog barks', 'Rain on a tin roof!'])
  const {text} = await towers()
  const embedder = localEmbedder({text, sources: {}}, true)
  const want = (await embedder.embed('text', [['a dog barks', 'Rain on a tin roof!']]))[0]!
  const got = q.getChild('text_emb').toArray() as Float32Array[]
  assert.ok(maxAbsDiff(Float32Array.from([...got[0], ...got[1]]), want) < 1e-5)

  // A table with a captions list: one embedding per caption, in order, padded batches giving the same numbers.
  const fields = [utf8('id'), utf8List('captions'), utf8('class')]
  const schema = sourceSchema(fields, {command: 'test', version: '0', params: {}})
  const rows = [
    ['a', ['a dog barks', 'Rain on a tin roof!'], null],
    ['b', null, 'dog_bark'],
  ] as const
  const out = openTableOutput(schema, path.join(dir, 'caps.arrow'))
  await out.write(
    sourceBatch(
      schema,
      fields.map((f, i) =>
        columnData(
          f,
          rows.map((row) => row[i]),
        ),
      ),
    ),
  )
  await out.close()
  const e = vipant(['embed', path.join(dir, 'caps.arrow'), '--model', model, '-o', path.join(dir, 'caps-emb.arrow')])
  assert.equal(e.status, 0, e.stderr.toString())
  const capsTable = tableFromIPC(readFileSync(path.join(dir, 'caps-emb.arrow')), {useProxy: false})
  const capEmb = capsTable.getChild('text_emb').toArray() as Float32Array[]
  assert.equal(capEmb[0].length, 2 * TINY.embed)
  assert.ok(maxAbsDiff(capEmb[0], want) < 1e-5)
  const cls = (await embedder.embed('text', [['dog_bark']]))[0]!
  assert.ok(maxAbsDiff(capEmb[1], cls) < 1e-5)
})

test(
  'embed refuses input the tower cannot use, in one line naming the file',
  {skip: skipWithoutShared, timeout: 60_000},
  async () => {
    const model = await tinyModel
    const raw = path.join(dir, 'raw-mel.arrows')
    assert.equal(vipant(['mel', esc[0], '--no-normalize', '--max-len', '200', '-o', raw]).status, 0)
    const r = vipant(['embed', raw, '--model', model, '-o', path.join(dir, 'x.arrow')])
    assert.equal(r.status, 2)
    assert.equal(
      r.stderr.toString(),
      `vipant embed: ${raw}: column mel was made by 'vipant mel' with norms=null, this needs [-4.93839311,5.75751113]\n`,
    )

    const index = path.join(dir, 'index.arrows')
    assert.equal(vipant(['fetch', 'folder', esc[0], '-o', index]).status, 0)
    const noMel = vipant(['embed', index, '--model', model, '--tower', 'audio'])
    assert.equal(noMel.status, 2)
    assert.match(
      noMel.stderr.toString(),
      /^vipant embed: .*index\.arrows: the audio tower needs the column "mel" \(pipe it through vipant mel first\)\n$/,
    )
  },
)

test("a text tower whose vocabulary is smaller than CLIP's tokenizer: one line on both engines, not an engine's index error", () => {
  for (const engine of ['onnx', 'tfjs']) {
    const r = vipant([
      'embed',
      '--engine',
      engine,
      '--workers',
      '1',
      '--model',
      fixture('checkpoint', 'clip-jit.pt'),
      '--text',
      'a dog',
      '-o',
      path.join(os.tmpdir(), 'never.arrow'),
    ])
    assert.equal(r.status, 2, r.stderr.toString())
    assert.match(
      r.stderr.toString(),
      /^vipant embed: the text tower has a vocabulary of 64 tokens, but CLIP's tokenizer gives token 49406 for "a dog": a CLIP text tower has 49408\n$/m,
    )
  }
})
