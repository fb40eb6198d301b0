import assert from 'node:assert/strict'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {test} from 'node:test'
import {openTableOutput, writeAll} from '../src/lib/arrow/output.js'
import {RowReader} from '../src/lib/arrow/row-reader.js'
import {selectBackend} from '../src/lib/backend/index.js'
import {loadModelFile} from '../src/lib/checkpoint/load.js'
import {indexRow} from '../src/lib/data/index-row.js'
import {indexBatch, indexSchema} from '../src/lib/data/index-table.js'
import {VisionTransformer} from '../src/lib/model/clip-vision.js'
import {resolveConfig} from '../src/lib/train/config.js'
import {ClipFrames, frameSourceOf} from '../src/lib/train/frame-source.js'
import {PairModel, tensorValues} from '../src/lib/train/pair-model.js'
import {readPairTable} from '../src/lib/train/pair-table.js'
import {vipant} from './cli.js'
import {maxAbsDiff, sharedData, skipWithoutShared} from './helpers.js'
import {UserError} from '../src/lib/util/errors.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-video-frames-'))
/** Real videos of at most 10.05 s: the audio tower's 1000 frames take them whole, so every crop is the same. */
const VIDEOS = ['bbb_prog_10s.mp4', 'chaplin_9.6s_h264_mp3.mp4', 'synthetic_smpte_10s_aac.mp4']
const K = 4
const TRAIN = ['--model', 'tiny', '--batch-size', '3', '--optimizer', 'adam', '--lr', '1e-3']

/** `vipant fetch folder` over a folder of FILES (links to them): an index of bare videos, no frame files. */
function videoIndex(name: string, files: Record<string, string>): string {
  const folder = path.join(dir, name)
  mkdirSync(folder)
  for (const [link, target] of Object.entries(files)) symlinkSync(target, path.join(folder, link))
  const index = path.join(dir, `${name}.arrow`)
  const r = vipant(['fetch', 'folder', folder, '-o', index])
  assert.equal(r.status, 0, r.stderr.toString())
  return index
}

const firstLoss = (run: string) =>
  JSON.parse(readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').split('\n')[0]).loss as number
const yaml = (run: string) => readFileSync(path.join(run, 'train.yaml'), 'utf8')

function pretrain(data: string, run: string, steps = 1): void {
  const r = vipant(['pretrain', data, '-o', path.join(dir, run), ...TRAIN, '--steps', String(steps)])
  assert.equal(r.status, 0, r.stderr.toString())
}

test(
  'pretrain from bare videos: the frames and image embeddings of mel --frames K + embed, the same first step; ' +
    'resumed, the embeddings are read back',
  {skip: skipWithoutShared, timeout: 600_000},
  async (t) => {
    const index = videoIndex('videos', Object.fromEntries(VIDEOS.map((v) => [v, sharedData('video', v)])))
    const table = await readPairTable(index, 'audio-image', ['image'], 'the sound of')
    assert.equal(table.onTheFly, true)
    assert.equal(frameSourceOf(table.clips), 'video')

    // The precomputed path: pixels stored by mel --frames K, then the image tower's embeddings by vipant embed.
    const mel = path.join(dir, 'mel.arrow')
    const melRun = vipant(['mel', index, '--frames', String(K), '-o', mel])
    assert.equal(melRun.status, 0, melRun.stderr.toString())
    pretrain(index, 'from-videos')
    const clip = path.join(dir, 'from-videos', 'init-clip')
    const emb = path.join(dir, 'emb.arrow')
    // Raw, as the trainer keeps them (embed normalises by default; the loss takes cosines either way).
    const embedded = vipant(['embed', mel, '--tower', 'image', '--model', clip, '--raw', '-o', emb])
    assert.equal(embedded.status, 0, embedded.stderr.toString())
    pretrain(mel, 'from-pixels')
    pretrain(emb, 'from-embeddings')

    // The frames cut on the fly are mel's, bit for bit; embedded as the trainer embeds them, within 1e-5 of embed's.
    const pixels = await RowReader.open(mel)
    const embeddings = await RowReader.open(emb)
    await selectBackend('wasm')
    const vision = VisionTransformer.fromStateDict((await loadModelFile(clip)).clip!)
    const model = new PairModel({}, {image: vision}, 0)
    const frames = new ClipFrames(K, (line) => assert.fail(line), 2)
    try {
      let row = 0
      for await (const cut of frames.each(table.clips)) {
        assert.equal(cut.length, K)
        const stored = pixels.row('images', row)!
        assert.deepEqual(new Float32Array(cut.flatMap((f) => [...f])), stored, VIDEOS[row])
        const ours = tensorValues(model.embedFrozen('image', cut))
        const theirs = embeddings.row('image_emb', row)!
        assert.ok(maxAbsDiff(ours, theirs) < 1e-5, `${VIDEOS[row]}: ${maxAbsDiff(ours, theirs)}`)
        t.diagnostic(
          `${VIDEOS[row]}: image embeddings within ${maxAbsDiff(ours, theirs).toExponential(2)} of vipant embed's`,
        )
        row++
      }
      assert.equal(row, VIDEOS.length)
    } finally {
      await frames.close()
      model.dispose()
    }

    const [videos, fromPixels, fromEmbeddings] = ['from-videos', 'from-pixels', 'from-embeddings'].map((run) =>
      path.join(dir, run),
    )
    assert.equal(firstLoss(videos), firstLoss(fromPixels))
    const gap = Math.abs(firstLoss(videos) - firstLoss(fromEmbeddings))
    t.diagnostic(`first loss ${firstLoss(videos)}, from vipant embed's embeddings ${gap.toExponential(2)} away`)
    assert.ok(gap < 1e-5)
    assert.match(yaml(videos), /^frameSource: video$/m)
    assert.match(yaml(videos), /^videoFrames: 4$/m)
    assert.match(yaml(videos), /^features: on-the-fly$/m)
    assert.match(yaml(fromPixels), /^frameSource: images$/m)
    assert.match(yaml(fromEmbeddings), /^frameSource: image_emb$/m)

    // Resumed, the run reads its frame embeddings back instead of cutting the videos again, and goes on exactly.
    assert.equal(existsSync(path.join(videos, 'frame-embeddings.arrow')), true)
    const resumed = vipant(['pretrain', '-o', videos, '--resume', '--steps', '2'])
    assert.equal(resumed.status, 0, resumed.stderr.toString())
    assert.match(resumed.stderr.toString(), /frame embeddings of 3 clips read from frame-embeddings\.arrow/)
    assert.doesNotMatch(resumed.stderr.toString(), /embedding the frames/)
    pretrain(index, 'uninterrupted', 2)
    const losses = (run: string) =>
      readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).loss as number)
    assert.deepEqual(losses(videos), losses(path.join(dir, 'uninterrupted')))
    // A new run in a directory that holds them (a failed start) takes them with the same frozen tower and frames.
    for (const [name, more, reused] of [
      ['same-tower', [], true],
      ['two-frames', ['--video-frames', '2'], false],
    ] as const) {
      const run = path.join(dir, name)
      mkdirSync(run)
      copyFileSync(path.join(videos, 'frame-embeddings.arrow'), path.join(run, 'frame-embeddings.arrow'))
      const r = vipant(['pretrain', index, '-o', run, ...TRAIN, '--steps', '1', '--clip', clip, ...more])
      assert.equal(r.status, 0, r.stderr.toString())
      const note = /frame embeddings of 3 clips read from frame-embeddings\.arrow/
      if (reused) assert.match(r.stderr.toString(), note)
      else assert.match(r.stderr.toString(), /3 cut from their videos, 2 frames each/)
    }
  },
)

test(
  'an index row whose file has no video stream, or is truncated: the run stops before training, one line naming it',
  {skip: skipWithoutShared, timeout: 300_000},
  async () => {
    const truncated = path.join(dir, 'truncated.mp4')
    writeFileSync(truncated, readFileSync(sharedData('video', 'synthetic_smpte_10s_aac.mp4')).subarray(0, 200_000))
    const cases = {
      'no-video': [
        'audio.wav',
        sharedData('esc50', 'audio', readdirSync(sharedData('esc50', 'audio'))[0]),
        /no video stream/,
      ],
      truncated: ['cut.mp4', truncated, /no video frame at/],
    } as const
    for (const [name, [link, target, problem]] of Object.entries(cases)) {
      const index = videoIndex(name, {'good.mp4': sharedData('video', VIDEOS[0]), [link]: target})
      const run = path.join(dir, `run-${name}`)
      const r = vipant(['pretrain', index, '-o', run, ...TRAIN, '--steps', '1'])
      assert.equal(r.status, 2, r.stderr.toString())
      const lines = r.stderr.toString().trim().split('\n')
      const last = lines.at(-1)!
      assert.match(last, new RegExp(`clip ${link.replace(/\..*/, '')}: ${path.join(dir, name, link)}: `))
      assert.match(last, problem)
      assert.doesNotMatch(r.stderr.toString(), /\n\s+at /)
      assert.equal(existsSync(path.join(run, 'checkpoints')), false)
    }
  },
)

test('an index row lists frame files or, without them, is a bare video; frameSource names the mix; bad settings', async () => {
  const schema = indexSchema({}, '0')
  const row = (id: string, frames: string[] | null, status: 'ok' | 'missing' = 'ok') =>
    indexRow({id, dataset: 'folder', path: `/videos/${id}.mp4`, status, frames})
  const index = path.join(dir, 'mixed.arrow')
  const rows = [
    row('listed', ['/frames/a.jpg', '/frames/b.jpg']),
    row('bare', null),
    row('empty', []),
    row('gone', null, 'missing'),
  ]
  await writeAll(
    openTableOutput(schema, index),
    (async function* () {
      yield indexBatch(schema, rows)
    })(),
  )
  const table = await readPairTable(index, 'audio-image', ['image'], 'the sound of')
  assert.deepEqual(
    table.clips.map((c) => [c.id, c.framePaths ?? null, c.videoPath ?? null]),
    [
      ['listed', ['/frames/a.jpg', '/frames/b.jpg'], null],
      ['bare', null, '/videos/bare.mp4'],
      ['empty', null, '/videos/empty.mp4'],
    ],
  )
  assert.equal(table.skipped, 1)
  assert.equal(frameSourceOf(table.clips), 'frame-files+video')
  // Not asked for the image tower's frames (image-text trains it on pixels): no video is read as frames.
  await assert.rejects(readPairTable(index, 'audio-image', [], 'the sound of'), /needs the column "images"/)

  const base = {pair: 'audio-image', data: 'd.arrow', out: 'o'} as const
  assert.equal(resolveConfig(base).videoFrames, 4)
  assert.equal(resolveConfig(base, {frameSource: 'frame-files+video'}).frameSource, 'frame-files+video')
  assert.throws(() => resolveConfig(base, {videoFrames: 0}), UserError)
  assert.throws(() => resolveConfig(base, {frameSource: 'pixels'}), /frameSource must be one of/)
})
