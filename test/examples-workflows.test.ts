import {after, test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {tableFromIPC} from '@uwdata/flechette'
import {VIPANT} from './cli.js'
import {repoRoot, sharedData, skipWithoutShared} from './helpers.js'
import {TINY, writeTinyVipant} from './tiny-models.js'

// Every workflow script in examples/, run with bash on a few real clips and the tiny random towers.
const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-workflows-'))
const tiny = writeTinyVipant(dir)
const us8kFold = sharedData('us8k', 'audio', 'fold10')
after(() => rmSync(dir, {recursive: true, force: true}))

function example(
  name: string,
  env: Record<string, string>,
  args: string[] = [],
): Promise<{code: number; stdout: string; stderr: string}> {
  return tiny.then(
    (model) =>
      new Promise((resolve) => {
        const settings = {
          VIPANT: `${process.execPath} ${VIPANT}`,
          MODEL: model,
          CLIP: model,
          INIT: model,
          MAX_LEN: String(TINY.audioMaxLen),
          OUT: path.join(dir, 'results'),
        }
        const child = spawn('bash', [path.join(repoRoot, 'examples', name), ...args], {
          env: {...process.env, ...settings, ...env},
          cwd: dir,
        })
        let stdout = ''
        let stderr = ''
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
        child.on('close', (code) => resolve({code: code ?? -1, stdout, stderr}))
      }),
  )
}

/** A folder of symlinks (never copies) to `files`, each under its given name. */
function links(folder: string, files: Record<string, string>): string {
  for (const [name, target] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(folder, name)), {recursive: true})
    symlinkSync(target, path.join(folder, name))
  }
  return folder
}

const readTable = (file: string) => tableFromIPC(readFileSync(file), {useProxy: false})
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'))
const result = (name: string) => path.join(dir, 'results', name)
const column = <T>(file: string, name: string) => readTable(file).getChild(name).toArray() as T[]

/** A retrieval report's two directions: R@k in [0, 100] and non-decreasing in k, ranks 1-based, the query counts. */
function assertRetrieval(report: Record<string, Record<string, number>>, clips: number) {
  for (const [direction, queries] of [
    ['audio_to_text', clips],
    ['text_to_audio', 5 * clips],
  ] as const) {
    const r = report[direction]
    assert.equal(r.queries, queries, direction)
    const recalls = [r.r1, r.r5, r.r10, r.r50]
    assert.ok(
      recalls.every((v, k) => v >= 0 && v <= 100 && (k === 0 || v >= recalls[k - 1])),
      `${direction} R@k ${recalls}`,
    )
    assert.ok(r.median_rank >= 1 && r.mean_rank >= 1 && r.map10 >= 0 && r.map10 <= 1, direction)
  }
}

/** The ranks table agrees with the report: one row per query, R@k = share of ranks at most k (the column is 1-based). */
function assertRanks(file: string, report: Record<string, Record<string, number>>) {
  const direction = column<string>(file, 'direction')
  const rank = column<number>(file, 'rank')
  for (const d of ['audio_to_text', 'text_to_audio']) {
    const ranks = rank.filter((_, i) => direction[i] === d)
    assert.equal(ranks.length, report[d].queries, d)
    for (const k of [1, 5, 10])
      assert.ok(
        Math.abs(report[d][`r${k}`] - (100 * ranks.filter((x) => x <= k).length) / ranks.length) < 1e-9,
        `${d} R@${k}`,
      )
  }
}

/** A zero-shot report's sane values, and its accuracy recomputed from the predictions table. */
function assertZeroshot(report: Record<string, any>, predictions: string, clips: number, classes: number) {
  assert.equal(report.clips.evaluated, clips)
  assert.deepEqual(report.protocol.prompts, ['the sound of '])
  assert.equal(report.protocol.scoring, 'dot')
  assert.equal(report.protocol.audio_normalized, false)
  assert.equal(report.confusion.classes.length, classes)
  assert.ok(report.accuracy >= 0 && report.accuracy <= report.top5 && report.top5 <= 1)
  const table = readTable(predictions)
  assert.equal(table.numRows, clips)
  const label = table.getChild('label').toArray() as number[]
  const predicted = table.getChild('predicted').toArray() as number[]
  assert.ok((table.getChild('scores').toArray() as Float32Array[]).every((s) => s.length === classes))
  assert.equal(report.accuracy, label.filter((l, i) => l === predicted[i]).length / clips)
}

test(
  'examples/zeroshot-esc50.sh: the report, predictions and confusion plot of the 6 clips on disk',
  {skip: skipWithoutShared, timeout: 60_000},
  async () => {
    const run = await example('zeroshot-esc50.sh', {DATA: sharedData('esc50')})
    assert.equal(run.code, 0, run.stderr)
    const report = readJson(result('esc50.json'))
    assert.deepEqual(report.clips, {listed: 2000, evaluated: 6, missing: 1994, failed: 0, unlabelled: 0})
    assert.equal(report.protocol.max_len, TINY.audioMaxLen)
    assertZeroshot(report, result('esc50-predictions.arrow'), 6, 50)
    assert.match(readFileSync(result('esc50-confusion.svg'), 'utf8'), /<svg[^>]*>[\s\S]*esc50: accuracy/)
  },
)

test(
  'examples/zeroshot-us8k.sh: raw embeddings kept, then scored; one fold-10 clip per class',
  {skip: skipWithoutShared, timeout: 60_000},
  async () => {
    const clips = Array.from({length: 10}, (_, c) =>
      readdirSync(us8kFold)
        .sort()
        .find((f) => f.split('-')[1] === String(c))!,
    )
    const data = links(path.join(dir, 'us8k'), {
      'metadata/UrbanSound8K.csv': sharedData('us8k', 'metadata', 'UrbanSound8K.csv'),
      ...Object.fromEntries(clips.map((f) => [`audio/fold10/${f}`, path.join(us8kFold, f)])),
    })
    const run = await example('zeroshot-us8k.sh', {DATA: data})
    assert.equal(run.code, 0, run.stderr)
    const embedded = readTable(result('us8k-emb.arrow'))
    assert.deepEqual(
      (embedded.getChild('id').toArray() as string[]).slice().sort(),
      clips.map((f) => f.replace(/\.wav$/, '')).sort(),
    )
    const audio = embedded.getChild('audio_emb').toArray() as Float32Array[]
    assert.ok(
      audio.every((e) => e.length === TINY.embed && Math.abs(Math.hypot(...e) - 1) > 1e-3),
      'raw, unnormalised embeddings',
    )
    const report = readJson(result('us8k.json'))
    assert.deepEqual(report.folds.present, [10])
    assertZeroshot(report, result('us8k-predictions.arrow'), 10, 10)
    assert.deepEqual(report.confusion.classes, [
      'air_conditioner',
      'car_horn',
      'children_playing',
      'dog_bark',
      'drilling',
      'engine_idling',
      'gun_shot',
      'jackhammer',
      'siren',
      'street_music',
    ])
  },
)

test(
  'examples/retrieve-clotho.sh: R@k of both directions for the 7 evaluation clips on disk, agreeing with the ranks',
  {skip: skipWithoutShared, timeout: 60_000},
  async () => {
    const len = String(TINY.audioMaxLen)
    const run = await example('retrieve-clotho.sh', {DATA: sharedData('clotho'), MAX_LENS: len})
    assert.equal(run.code, 0, run.stderr)
    const report = readJson(result(`clotho-${len}.json`))
    assert.deepEqual(report.clips, {listed: 1045, evaluated: 7, missing: 1038, failed: 0})
    assert.equal(report.captions, 35)
    assert.deepEqual(
      [report.protocol.split, report.protocol.prompt, report.protocol.max_len],
      ['evaluation', 'the sound of', TINY.audioMaxLen],
    )
    assertRetrieval(report, 7)
    assertRanks(result(`clotho-${len}-ranks.arrow`), report)
  },
)

// AudioCaps audio is YouTube-only: the official CSVs (train cut to its first 8 rows, to keep the test fast), with
// fold-10 US8K clips standing in for the first 4 clips of each split.
const audiocaps = path.join(dir, 'audiocaps')
function audiocapsLayout(): string {
  if (existsSync(audiocaps)) return audiocaps
  const wavs = readdirSync(us8kFold).sort()
  const files: Record<string, string> = {}
  for (const split of ['train', 'val', 'test']) {
    const lines = readFileSync(sharedData('audiocaps', 'v1', `${split}.csv`), 'utf8').split('\n')
    const ytids = [...new Set(lines.slice(1).map((line) => line.split(',')[1]))].slice(0, 4)
    for (const ytid of ytids) files[`audio/${ytid}.wav`] = path.join(us8kFold, wavs[Object.keys(files).length])
    if (split !== 'train') files[`v1/${split}.csv`] = sharedData('audiocaps', 'v1', `${split}.csv`)
  }
  links(audiocaps, files)
  writeFileSync(
    path.join(audiocaps, 'v1', 'train.csv'),
    readFileSync(sharedData('audiocaps', 'v1', 'train.csv'), 'utf8')
      .split('\n')
      .slice(0, 9)
      .join('\n') + '\n',
  )
  return audiocaps
}

test(
  "examples/retrieve-audiocaps.sh: the test split's clips on disk evaluated, the missing ones counted",
  {skip: skipWithoutShared, timeout: 60_000},
  async () => {
    const run = await example('retrieve-audiocaps.sh', {DATA: audiocapsLayout()})
    assert.equal(run.code, 0, run.stderr)
    const report = readJson(result('audiocaps.json'))
    assert.equal(report.protocol.split, 'test')
    assert.equal(report.clips.evaluated, 4)
    assert.equal(report.clips.listed, report.clips.evaluated + report.clips.missing)
    assert.equal(report.captions, 20)
    assertRetrieval(report, 4)
    assertRanks(result('audiocaps-ranks.arrow'), report)
  },
)

test(
  'examples/search-folder.sh: K hits per query, best first; the index is made once and reused',
  {skip: skipWithoutShared, timeout: 60_000},
  async () => {
    const wavs = readdirSync(us8kFold).sort().slice(0, 5)
    const data = links(
      path.join(dir, 'sounds'),
      Object.fromEntries(wavs.map((f, i) => [`${i < 2 ? 'street/' : ''}${f}`, path.join(us8kFold, f)])),
    )
    const env = {DATA: data, K: '3', INDEX: path.join(dir, 'sounds.arrow')}
    const queries = ['a dog barks', 'rain on a tin roof']
    const first = await example('search-folder.sh', env, queries)
    assert.equal(first.code, 0, first.stderr)
    assert.equal(readTable(env.INDEX).numRows, 5)
    const found = JSON.parse(first.stdout) as {
      query: string
      results: {rank: number; id: string; path: string; score: number}[]
    }[]
    assert.deepEqual(
      found.map((f) => f.query),
      queries,
    )
    for (const {results} of found) {
      assert.deepEqual(
        results.map((r) => r.rank),
        [1, 2, 3],
      )
      assert.ok(
        results.every((r, i) => Math.abs(r.score) <= 1 && (i === 0 || r.score <= results[i - 1].score)),
        'descending cosine scores',
      )
      assert.ok(results.every((r) => existsSync(r.path) && wavs.includes(path.basename(r.path))))
    }
    const again = await example('search-folder.sh', env, [queries[1]])
    assert.equal(again.code, 0, again.stderr)
    assert.doesNotMatch(again.stderr, /^mel:/m)
    assert.deepEqual(JSON.parse(again.stdout), [found[1]])
  },
)

const videos = () =>
  existsSync(path.join(dir, 'videos'))
    ? path.join(dir, 'videos')
    : links(path.join(dir, 'videos'), {
        'bbb.mp4': sharedData('video', 'bbb_prog_10s.mp4'),
        'chaplin.mp4': sharedData('video', 'chaplin_9.6s_h264_mp3.mp4'),
      })

test(
  'examples/curate-captions.sh: each clip gets pool captions from its 4 frames, best first, log-mels kept',
  {skip: skipWithoutShared, timeout: 60_000},
  async () => {
    const pool = [
      'a dog barks',
      'rain falls on a roof',
      'a man speaks',
      'birds chirp',
      'a car passes by',
      'music plays',
      'a door slams',
      'people applaud',
    ]
    const captions = path.join(dir, 'captions.txt')
    writeFileSync(captions, pool.join('\n') + '\n')
    const run = await example('curate-captions.sh', {
      DATASET: 'folder',
      DATA: videos(),
      CAPTIONS: captions,
      K: '2',
      FRAMES: '4',
    })
    assert.equal(run.code, 0, run.stderr)
    const summary = readJson(result('curate.json'))
    assert.deepEqual(
      [summary.clips, summary.curated, summary.frame_embeddings, summary.k, summary.pool.captions],
      [2, 2, 8, 2, pool.length],
    )
    const table = readTable(result('curated.arrow'))
    assert.deepEqual((table.getChild('id').toArray() as string[]).slice().sort(), ['bbb', 'chaplin'])
    assert.ok((table.getChild('mel').toArray() as Float32Array[]).every((m) => m.length === TINY.audioMaxLen * 128))
    const scores = table.getChild('caption_scores').toArray() as Float32Array[]
    ;(table.getChild('captions').toArray() as string[][]).forEach((c, i) => {
      assert.ok(c.length >= 2 && c.length <= 8 && c.every((x) => pool.includes(x)), `${c}`)
      assert.equal(scores[i].length, c.length)
      assert.ok(
        scores[i].every((s, j) => Math.abs(s) <= 1 && (j === 0 || s <= scores[i][j - 1])),
        'best first',
      )
    })
  },
)

/** The training steps in a run's metrics.jsonl, and its evaluations. */
function metrics(run: string) {
  const lines = readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
  return {
    steps: lines.filter((l) => !l.eval).map((l) => l.step),
    evals: lines.filter((l) => l.eval).map((l) => l.eval),
    loss: lines.filter((l) => !l.eval).map((l) => l.loss),
  }
}

test(
  'examples/pretrain-va.sh: a VA run of 1 step, then resumed to 2; the table is made once; the report drawn',
  {skip: skipWithoutShared, timeout: 60_000},
  async () => {
    const env = {
      DATASET: 'folder',
      DATA: videos(),
      TRAIN: path.join(dir, 'va.arrow'),
      RUN: path.join(dir, 'runs', 'va'),
    }
    const first = await example('pretrain-va.sh', {...env, TRAIN_FLAGS: '--batch-size 2 --steps 1'})
    assert.equal(first.code, 0, first.stderr)
    assert.equal(readTable(env.TRAIN).getChild('images').toArray().length, 2)
    const second = await example('pretrain-va.sh', {...env, TRAIN_FLAGS: '--steps 2'})
    assert.equal(second.code, 0, second.stderr)
    assert.doesNotMatch(second.stderr, /^mel:/m)
    const {steps, loss} = metrics(env.RUN)
    assert.deepEqual(steps, [1, 2])
    assert.ok(loss.every((l) => Number.isFinite(l) && l > 0))
    assert.ok(existsSync(path.join(env.RUN, 'checkpoints', 'step-00000002', 'model.safetensors')))
    assert.match(readFileSync(path.join(env.RUN, 'report.svg'), 'utf8'), /<svg/)
  },
)

test(
  'examples/finetune-at.sh: AT steps evaluated on val, then the last checkpoint on the test split',
  {skip: skipWithoutShared, timeout: 90_000},
  async () => {
    const env = {
      DATA: audiocapsLayout(),
      TRAIN: path.join(dir, 'at-train.arrow'),
      VAL: path.join(dir, 'at-val.arrow'),
      RUN: path.join(dir, 'runs', 'at'),
      BATCH: '2',
    }
    const run = await example('finetune-at.sh', {...env, TRAIN_FLAGS: '--steps 2 --eval-every 1'})
    assert.equal(run.code, 0, run.stderr)
    assert.equal(readTable(env.TRAIN).numRows, 4)
    assert.equal(readTable(env.VAL).numRows, 4)
    const {steps, evals} = metrics(env.RUN)
    assert.deepEqual(steps, [1, 2])
    assert.equal(evals.length, 2)
    for (const e of evals)
      assert.ok(
        Object.values(e as Record<string, number>).every((x) => x >= 0 && x <= 100) && e['a2t_R@1'] <= e['a2t_R@10'],
      )
    assert.ok(existsSync(path.join(env.RUN, 'report.svg')))
    const report = readJson(path.join(env.RUN, 'audiocaps-test.json'))
    assert.equal(report.model.audio.path, path.join(env.RUN, 'checkpoints', 'step-00000002'))
    assert.equal(report.clips.evaluated, 4)
    assertRetrieval(report, 4)
  },
)
