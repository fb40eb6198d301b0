import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type {Field} from '../src/lib/arrow/apache-arrow.js'
import {tableFromIPC} from '@uwdata/flechette'
import {columnData, utf8, utf8List} from '../src/lib/arrow/columns.js'
import {openTableOutput} from '../src/lib/arrow/output.js'
import {sourceBatch, sourceSchema} from '../src/lib/arrow/stage.js'
import {tensorData, tensorField, type TensorType} from '../src/lib/arrow/tensor.js'
import {mulberry32} from '../src/lib/util/rng.js'
import {pipeline, vipant} from './cli.js'
import {maxAbsDiff} from './helpers.js'
import {writeTinyVipant} from './tiny-models.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-curate-'))
const tinyModel = writeTinyVipant(dir)

/** Writes a table made by a pretend `command` with `params`; a column is plain values, or Float32Arrays for a tensor field. */
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

const f32 = (...v: number[]) => Float32Array.from(v)
const read = (file: string) => tableFromIPC(readFileSync(file), {useProxy: false})
const rows = (table: ReturnType<typeof read>, name: string) => table.getChild(name).toArray() as unknown[]

/**
 * Four directions in 4-d: the pool's vectors are unnormalised (cosine must normalise them), "dog barking
 * loudly" points exactly like "a dog barks" (a tie: pool order decides), and a repeated "a dog barks"
 * with another vector is dropped (a pool caption counts once).
 */
const POOL: [string, Float32Array][] = [
  ['a dog barks', f32(1, 0, 0, 0)],
  ['rain falls', f32(0, 3, 0, 0)],
  ['a car passes', f32(0, 0, 1, 0)],
  ['birds sing', f32(0, 0, 0, 0.5)],
  ['dog and rain', f32(1, 1, 0, 0)],
  ['a dog barks', f32(0, 0, 0, 1)],
  ['dog barking loudly', f32(2, 0, 0, 0)],
  ['an engine hums', f32(0, 0, 1, 1)],
]
const R = Math.SQRT1_2
const poolFile = path.join(dir, 'pool.arrow')
const clipsFile = path.join(dir, 'clips.arrow')
const models = {image: 'clip-a', text: 'clip-a'}
const ready = (async () => {
  await writeTable(
    poolFile,
    [utf8('text'), tensorField('text_emb', [4])],
    [POOL.map(([t]) => t), POOL.map(([, v]) => v)],
    'embed',
    {models},
  )
  // Clip c has gold captions and their text_emb, both to be replaced; b has no frame embeddings, d an empty list of them.
  await writeTable(
    clipsFile,
    [utf8('id'), utf8List('captions'), tensorField('text_emb', [-1, 4]), tensorField('image_emb', [-1, 4])],
    [
      ['a', 'b', 'c', 'd', 'e'],
      [null, null, ['a human caption'], null, null],
      [null, null, f32(0, 0, 0, 1), null, null],
      [f32(3, 0, 0, 0, 0, 0, 0, 2), null, f32(0.6, 0.8, 0, 0), f32(), f32(1, 0, 0, 0, 0, 1, 0, 0)],
    ],
    'embed',
    {models},
  )
})()

/** What each clip should get (texts, scores), worked out by hand from the vectors above. */
const EXPECTED = {
  union: [
    [
      ['a dog barks', 'birds sing', 'dog barking loudly', 'an engine hums'],
      [1, 1, 1, R],
    ],
    null,
    [
      ['dog and rain', 'rain falls'],
      [1.4 * R, 0.8],
    ],
    null,
    [
      ['a dog barks', 'rain falls', 'dog barking loudly', 'dog and rain'],
      [1, 1, 1, R],
    ],
  ],
  max: [
    [
      ['a dog barks', 'birds sing'],
      [1, 1],
    ],
    null,
    [
      ['dog and rain', 'rain falls'],
      [1.4 * R, 0.8],
    ],
    null,
    [
      ['a dog barks', 'rain falls'],
      [1, 1],
    ],
  ],
  mean: [
    [
      ['a dog barks', 'birds sing'],
      [0.5, 0.5],
    ],
    null,
    [
      ['dog and rain', 'rain falls'],
      [1.4 * R, 0.8],
    ],
    null,
    [
      ['dog and rain', 'a dog barks'],
      [R, 0.5],
    ],
  ],
} as const

for (const frames of ['union', 'max', 'mean'] as const) {
  test(`curate --frames ${frames}: the known top k per clip, ties in pool order, other columns kept, provenance recorded`, async () => {
    await ready
    const out = path.join(dir, `curated-${frames}.arrow`)
    const r = vipant(['curate', clipsFile, '--pool', poolFile, '-k', '2', '--frames', frames, '-o', out, '--json'])
    assert.equal(r.status, 0, r.stderr.toString())
    assert.match(
      r.stderr.toString(),
      /^vipant curate: dropping text_emb: it embeds the captions this replaces \(vipant embed --tower text embeds the new ones\)\n/,
    )
    const table = read(out)
    assert.deepEqual(
      table.schema.fields.map((f) => f.name),
      ['id', 'image_emb', 'captions', 'caption_scores'],
    )
    assert.deepEqual(rows(table, 'id'), ['a', 'b', 'c', 'd', 'e'])
    assert.ok(maxAbsDiff(rows(table, 'image_emb')[2] as Float32Array, f32(0.6, 0.8, 0, 0)) === 0)
    assert.equal(table.schema.fields.at(-1)!.metadata!.get('shape'), '[-1]')
    const captions = rows(table, 'captions') as (string[] | null)[]
    const scores = rows(table, 'caption_scores') as (Float32Array | null)[]
    EXPECTED[frames].forEach((want, i) => {
      if (want === null) return assert.deepEqual([captions[i], scores[i]], [null, null], `clip ${i}`)
      assert.deepEqual([...captions[i]!], want[0], `clip ${i}`)
      assert.ok(maxAbsDiff(scores[i]!, want[1]) < 1e-6, `clip ${i}: ${scores[i]}`)
    })
    const stages = JSON.parse(table.schema.metadata!.get('vipant.stages')!)
    assert.deepEqual(stages.at(-1), {
      command: 'curate',
      version: '0.1.0',
      columns: ['captions', 'caption_scores'],
      params: {pool: poolFile, pool_captions: 7, k: 2, frames, similarity: 'cosine', models},
    })
    const summary = JSON.parse(r.stdout.toString())
    assert.deepEqual(
      [summary.clips, summary.curated, summary.without_frames, summary.frame_embeddings, summary.pool],
      [5, 3, 2, 5, {source: poolFile, captions: 7, duplicates: 1, unembedded: 0}],
    )
    const counts: number[] = EXPECTED[frames].filter((w) => w !== null).map((w) => w![0].length)
    assert.equal(summary.captions_per_clip, counts.reduce((a, b) => a + b) / 3)
  })
}

test('curate streams stdin to stdout; a k above the pool size keeps the whole pool; one-line errors', async () => {
  await ready
  const r = vipant(['curate', '--pool', poolFile, '-k', '50', '--frames', 'max'], {input: readFileSync(clipsFile)})
  assert.equal(r.status, 0, r.stderr.toString())
  assert.match(
    r.stderr.toString(),
    /^vipant curate: dropping text_emb: .*\ncurate: 3 of 5 clips captioned from 5 frames, pool 7 captions \(1 repeat dropped\), 7\.0 captions per clip, mean top score 0\.9\d+, \d+\.\d s\n$/,
  )
  const table = tableFromIPC(r.stdout, {useProxy: false})
  const captions = table.getChild('captions').toArray() as (string[] | null)[]
  assert.deepEqual(
    [...captions[2]!],
    ['dog and rain', 'rain falls', 'a dog barks', 'dog barking loudly', 'a car passes', 'birds sing', 'an engine hums'],
  )

  const fail = (args: string[], message: string) => {
    const e = vipant(['curate', ...args])
    assert.deepEqual([e.status, e.stderr.toString()], [2, `vipant curate: ${message}\n`])
  }
  fail(
    [clipsFile, '--pool', poolFile, '--json'],
    '--json prints the summary on stdout, which carries the table without -o: give -o FILE',
  )
  fail(
    [poolFile, '--pool', poolFile, '-o', path.join(dir, 'x.arrow')],
    `${poolFile}: no image_emb column (vipant mel --frames K | vipant embed --tower image)`,
  )
  const bare = path.join(dir, 'bare.arrow')
  await writeTable(bare, [utf8('text')], [['x']], 'test', {})
  fail(
    [clipsFile, '--pool', bare, '-o', path.join(dir, 'x.arrow')],
    `${bare}: a caption pool needs text (or captions) and text_emb columns (vipant embed --tower text --text-file FILE)`,
  )
  const wide = path.join(dir, 'wide.arrow')
  await writeTable(wide, [utf8('text'), tensorField('text_emb', [3])], [['x'], [f32(1, 0, 0)]], 'embed', {})
  fail(
    [clipsFile, '--pool', wide, '-o', path.join(dir, 'x.arrow')],
    `${clipsFile}: image_emb has 4 dimensions, the caption pool ${wide} 3: embed both with the same CLIP`,
  )

  const other = path.join(dir, 'other-pool.arrow')
  await writeTable(other, [utf8('text'), tensorField('text_emb', [4])], [['x'], [f32(1, 0, 0, 0)]], 'embed', {
    models: {text: 'clip-b'},
  })
  const warned = vipant(['curate', clipsFile, '--pool', other, '-o', path.join(dir, 'x.arrow')])
  assert.equal(warned.status, 0)
  assert.match(
    warned.stderr.toString(),
    new RegExp(
      `^vipant curate: warning: ${clipsFile} was embedded with clip-a, the pool ${other} with clip-b: similarities across different CLIPs mean nothing\n`,
    ),
  )
})

test(
  'embed --tower image | curate: a pool of embedded captions (one text_emb per caption) against real tower outputs',
  {timeout: 120_000},
  async () => {
    await ready
    const model = await tinyModel
    const rng = mulberry32(7)
    const frame = () => Float32Array.from({length: 224 * 224 * 3}, () => rng() * 2 - 1)
    const images = path.join(dir, 'images.arrow')
    await writeTable(
      images,
      [utf8('id'), tensorField('images', [-1, 224, 224, 3])],
      [
        ['x', 'y', 'z'],
        [Float32Array.from([...frame(), ...frame()]), frame(), null],
      ],
      'mel',
      {},
    )
    // A pool in the captions form: two rows of captions, embedded one vector per caption.
    const texts = [
      ['a dog barks', 'rain on a roof', 'a car passes'],
      ['birds sing at dawn', 'a door slams', 'rain on a roof'],
      ['an engine hums', 'people talk'],
    ]
    const captionsTable = path.join(dir, 'caption-rows.arrow')
    await writeTable(captionsTable, [utf8('id'), utf8List('captions')], [['p', 'q', 'r'], texts], 'fetch', {})
    const pool = path.join(dir, 'caption-pool.arrow')
    const e = vipant(['embed', captionsTable, '--model', model, '--clip', model, '--tower', 'text', '-o', pool])
    assert.equal(e.status, 0, e.stderr.toString())

    const tee = path.join(dir, 'frames-emb.arrows')
    const out = path.join(dir, 'curated.arrow')
    const child = pipeline(
      `vipant embed ${images} --model ${model} --clip ${model} --tower image | tee ${tee} | vipant curate --pool ${pool} -k 2 -o ${out}`,
    )
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    assert.equal(await new Promise((resolve) => child.on('close', resolve)), 0, stderr)

    // Brute force from the tables as an independent reader sees them: every frame against every caption.
    const poolTable = read(pool)
    const emb = poolTable.getChild('text_emb').toArray() as Float32Array[]
    const seen = new Set<string>()
    const captions: {text: string; v: Float32Array}[] = []
    texts.forEach((row, i) =>
      row.forEach((text, k) => {
        if (!seen.has(text)) captions.push({text, v: emb[i].subarray(32 * k, 32 * (k + 1))})
        seen.add(text)
      }),
    )
    const cos = (a: ArrayLike<number>, b: ArrayLike<number>) => {
      let [ab, aa, bb] = [0, 0, 0]
      for (let d = 0; d < a.length; d++) [ab, aa, bb] = [ab + a[d] * b[d], aa + a[d] * a[d], bb + b[d] * b[d]]
      return ab / Math.sqrt(aa * bb)
    }
    const frames = read(tee).getChild('image_emb').toArray() as (Float32Array | null)[]
    const curated = read(out)
    const got = curated.getChild('captions').toArray() as (string[] | null)[]
    const gotScores = curated.getChild('caption_scores').toArray() as (Float32Array | null)[]
    assert.deepEqual(
      frames.map((f) => (f ? f.length / 32 : null)),
      [2, 1, null],
    )
    frames.forEach((f, i) => {
      if (f === null) return assert.equal(got[i], null)
      const best = new Map<string, number>()
      for (let k = 0; k < f.length / 32; k++) {
        const ranked = captions
          .map((c, j) => ({j, text: c.text, s: cos(f.subarray(32 * k, 32 * (k + 1)), c.v)}))
          .sort((a, b) => b.s - a.s || a.j - b.j)
        for (const c of ranked.slice(0, 2)) best.set(c.text, Math.max(best.get(c.text) ?? -Infinity, c.s))
      }
      const want = [...best].sort((a, b) => b[1] - a[1])
      assert.deepEqual(
        [...got[i]!],
        want.map(([t]) => t),
        `clip ${i}`,
      )
      assert.ok(
        maxAbsDiff(
          gotScores[i]!,
          want.map(([, s]) => s),
        ) < 1e-5,
      )
    })
  },
)
