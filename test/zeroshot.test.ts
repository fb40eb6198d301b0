import {test} from 'node:test'
import assert from 'node:assert/strict'
import {copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {tableFromIPC} from '@uwdata/flechette'
import {
  argmax,
  classEmbeddings,
  classificationMetrics,
  classText,
  rankOf,
  scoreClips,
} from '../src/lib/eval/classification.js'
import {resolveClasses} from '../src/lib/eval/zeroshot-input.js'
import {UserError} from '../src/lib/util/errors.js'
import {vipant} from './cli.js'
import {parseXml} from './xml.js'
import {sharedData, skipWithoutShared} from './helpers.js'
import {TINY, writeTinyVipant, tinyFlags} from './tiny-models.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-zeroshot-'))
const tinyModel = writeTinyVipant(dir)

test('class texts: the prompt stripped plus one space, "_" read as a space; {} templates; empty prompt', () => {
  assert.equal(classText('the sound of ', 'chirping_birds'), 'the sound of chirping birds')
  assert.equal(classText('  the sound of  ', 'dog_bark'), 'the sound of dog bark')
  assert.equal(classText('', 'street_music'), 'street music')
  assert.equal(classText('a recording of {}, outdoors', 'car_horn'), 'a recording of car horn, outdoors')
})

test('argmax and rank: ties go to the lowest class index', () => {
  assert.equal(argmax([1, 3, 3, 2]), 1)
  assert.equal(argmax([5, 5, 5]), 0)
  assert.equal(rankOf([1, 3, 3, 2], 1), 0)
  assert.equal(rankOf([1, 3, 3, 2], 2), 1)
  assert.equal(rankOf([1, 3, 3, 2], 0), 3)
})

test('metrics: one clip, perfect and reversed rankings, top-5 boundary', () => {
  const one = classificationMetrics([{label: 2, fold: 1, scores: [0, 1, 2]}], 3)
  assert.deepEqual(
    {accuracy: one.accuracy, top5: one.top5, folds: one.folds, confusion: one.confusion},
    {
      accuracy: 1,
      top5: 1,
      folds: [{fold: 1, clips: 1, accuracy: 1}],
      confusion: [
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 1],
      ],
    },
  )
  // Six classes: the true class ranked first by every clip, then last (rank 5: outside the top 5).
  const perfect = Array.from({length: 6}, (_, label) => ({
    label,
    fold: null,
    scores: Array.from({length: 6}, (_, j) => (j === label ? 1 : 0)),
  }))
  const reversed = perfect.map((c) => ({...c, scores: c.scores.map((s) => -s)}))
  const p = classificationMetrics(perfect, 6)
  assert.equal(p.accuracy, 1)
  assert.equal(p.top5, 1)
  assert.deepEqual(p.folds, [])
  const r = classificationMetrics(reversed, 6)
  assert.equal(r.accuracy, 0)
  // Reversed: the true class scores -1 and the five others 0, so its 0-based rank is 5.
  assert.equal(r.top5, 0)
  assert.deepEqual(
    r.classes.map((c) => c.accuracy),
    [0, 0, 0, 0, 0, 0],
  )
})

test('metrics: accuracy is pooled over clips, not the mean of per-fold accuracies', () => {
  const m = classificationMetrics(
    [
      {label: 0, fold: 1, scores: [1, 0]},
      {label: 0, fold: 2, scores: [0, 1]},
      {label: 1, fold: 2, scores: [1, 0]},
      {label: 1, fold: 2, scores: [0.5, 0.5]}, // a tie: predicts class 0
    ],
    2,
  )
  assert.equal(m.accuracy, 0.25)
  assert.deepEqual(m.folds, [
    {fold: 1, clips: 1, accuracy: 1},
    {fold: 2, clips: 3, accuracy: 0},
  ])
  assert.deepEqual(m.confusion, [
    [1, 1],
    [2, 0],
  ])
  assert.deepEqual(m.classes, [
    {label: 0, clips: 2, accuracy: 0.5},
    {label: 1, clips: 2, accuracy: 0},
  ])
  assert.equal(classificationMetrics([], 2).classes[0].accuracy, null)
})

test('scores: raw dot products, where text norms change the argmax; cosine does not; templates averaged', () => {
  const audio = [Float32Array.of(2, 0)]
  const text = [[Float32Array.of(1, 0), Float32Array.of(2, 2)]]
  assert.deepEqual([...scoreClips(audio, classEmbeddings(text, false), false)[0]], [2, 4])
  const cos = scoreClips(audio, classEmbeddings(text, true), true)[0]
  assert.equal(cos[0], 1)
  assert.ok(Math.abs(cos[1] - Math.SQRT1_2) < 1e-12)
  const two = classEmbeddings([[Float32Array.of(1, 0)], [Float32Array.of(3, 4)]], false)
  assert.deepEqual([...two[0]], [2, 2])
  const unit = classEmbeddings([[Float32Array.of(2, 0)], [Float32Array.of(0, 5)]], true)
  assert.deepEqual([...unit[0]], [0.5, 0.5])
})

test('classes: every label up to the largest must be named, else --classes', () => {
  assert.deepEqual(
    resolveClasses(
      't',
      new Map([
        [1, 'b'],
        [0, 'a'],
      ]),
      [],
    ),
    ['a', 'b'],
  )
  assert.throws(
    () => resolveClasses('t.arrow', new Map([[2, 'c']]), []),
    (e: Error) => e instanceof UserError && /--classes FILE/.test(e.message),
  )
  assert.deepEqual(
    resolveClasses('t', new Map(), [
      {id: 'x', fold: null, label: null, className: 'rain', dataset: null, audio: new Float32Array()},
    ]),
    ['rain'],
  )
  // A table of two US8K clips (the rest dropped on the way) is still scored against all ten classes.
  const clip = (label: number, className: string) => ({
    id: String(label),
    fold: 10,
    label,
    className,
    dataset: 'us8k',
    audio: new Float32Array(),
  })
  const us8k = resolveClasses(
    't',
    new Map([
      [3, 'dog_bark'],
      [8, 'siren'],
    ]),
    [clip(3, 'dog_bark'), clip(8, 'siren')],
  )
  assert.equal(us8k.length, 10)
  assert.deepEqual([us8k[0], us8k[3], us8k[8]], ['air_conditioner', 'dog_bark', 'siren'])
  // Names that disagree with the dataset's own are the table's business: the usual rule applies.
  assert.throws(() => resolveClasses('t', new Map([[3, 'dog']]), [clip(3, 'dog')]), /labels run to 3/)
})

test(
  "zeroshot --data us8k: report states fold 10 and the missing clips; accuracy equals the predictions table's",
  {skip: skipWithoutShared, timeout: 180_000},
  async () => {
    const model = await tinyModel
    const predictions = path.join(dir, 'p.arrow')
    const plot = path.join(dir, 'confusion.svg')
    const args = [
      'zeroshot',
      '--data',
      'us8k',
      sharedData('us8k'),
      ...tinyFlags(model),
      '--predictions',
      predictions,
      '--plot',
      plot,
      '--json',
    ]
    const result = vipant(args)
    assert.equal(result.status, 0, result.stderr.toString())
    assert.match(
      result.stderr.toString(),
      /^zeroshot: evaluated 837 of 8732 listed clips; 7895 not on disk \(fold 10\)$/m,
    )
    const report = JSON.parse(result.stdout.toString())
    assert.deepEqual(report.clips, {listed: 8732, evaluated: 837, missing: 7895, failed: 0, unlabelled: 0})
    assert.deepEqual(report.folds.present, [10])
    assert.deepEqual(report.protocol.prompts, ['the sound of '])
    assert.equal(report.protocol.max_len, TINY.audioMaxLen)
    assert.equal(report.protocol.audio_normalized, false)
    assert.match(
      report.model.audio.files.find((f: {name: string}) => f.name === 'model.safetensors').sha256,
      /^[0-9a-f]{64}$/,
    )
    assert.equal(report.confusion.classes.length, 10)

    const table = tableFromIPC(readFileSync(predictions), {useProxy: false})
    const label = table.getChild('label').toArray() as Int32Array
    const predicted = table.getChild('predicted').toArray() as Int32Array
    const scores = table.getChild('scores').toArray() as Float32Array[]
    assert.equal(table.numRows, 837)
    assert.ok((table.getChild('fold').toArray() as Int32Array).every((f) => f === 10))
    let correct = 0
    for (let i = 0; i < table.numRows; i++) {
      if (label[i] === predicted[i]) correct++
      assert.equal(scores[i].length, 10)
      assert.equal(scores[i][predicted[i]], Math.max(...scores[i]))
    }
    assert.equal(report.accuracy, correct / table.numRows)

    // The plot draws the report's matrix: 10 x 10 cells, the report's counts, the accuracy in the title.
    const elements = parseXml(readFileSync(plot, 'utf8'))
    const counts = elements
      .filter((e) => e.attrs.class === 'cell')
      .map((e) => Number(elements[elements.indexOf(e) + 2].text))
    assert.deepEqual(counts, report.confusion.matrix.flat())
    assert.equal(
      elements.find((e) => e.name === 'title')?.text,
      `us8k: accuracy ${(100 * report.accuracy).toFixed(2)}% (837 clips)`,
    )
  },
)

test('zeroshot --plot with another extension: refused in one line before any work', () => {
  const result = vipant(['zeroshot', '--data', 'esc50', dir, '--model', 'x', '--plot', 'c.pdf'])
  assert.equal(result.status, 2)
  assert.equal(result.stderr.toString(), 'vipant zeroshot: c.pdf: --plot writes .svg or .png\n')
})

test('zeroshot --data without a directory: one line naming where it looked and what to do', () => {
  const result = vipant(['zeroshot', '--data', 'esc50', '--model', 'x'], {env: {VIPANT_HOME: dir}})
  assert.equal(result.status, 2)
  assert.equal(
    result.stderr.toString(),
    `vipant zeroshot: esc50 is not in ${path.join(dir, 'data', 'esc50')}: put it there, or name its directory (vipant zeroshot --data esc50 DIR)\n`,
  )
})

test(
  "zeroshot --classes on one's own unlabelled sounds: every clip predicted, no accuracy, exit 0",
  {skip: skipWithoutShared, timeout: 120_000},
  async () => {
    const model = await tinyModel
    const mine = path.join(dir, 'mine')
    mkdirSync(mine)
    for (const name of ['1-56234-A-9.wav', '2-100648-A-43.wav', '3-157695-A-0.wav'])
      copyFileSync(sharedData('esc50', 'audio', name), path.join(mine, name))
    const classes = path.join(dir, 'classes.txt')
    writeFileSync(classes, 'dog\nrain\nchirping_birds\nvacuum_cleaner\n')
    const predictions = path.join(dir, 'mine-pred.arrow')
    const embedded = path.join(dir, 'mine.arrow')
    const chain = vipant(['mel', mine, '--max-len', String(TINY.audioMaxLen), '-o', path.join(dir, 'mine-mel.arrow')])
    assert.equal(chain.status, 0, chain.stderr.toString())
    const embed = vipant(['embed', path.join(dir, 'mine-mel.arrow'), '--model', model, '--raw', '-o', embedded])
    assert.equal(embed.status, 0, embed.stderr.toString())
    const result = vipant([
      'zeroshot',
      embedded,
      '--model',
      model,
      '--clip',
      model,
      '--classes',
      classes,
      '--predictions',
      predictions,
      '--json',
    ])
    assert.equal(result.status, 0, result.stderr.toString())
    const report = JSON.parse(result.stdout.toString())
    assert.deepEqual([report.accuracy, report.top5, report.confusion.matrix, report.per_class], [null, null, null, []])
    assert.deepEqual(
      {evaluated: report.clips.evaluated, unlabelled: report.clips.unlabelled},
      {evaluated: 3, unlabelled: 3},
    )
    assert.match(
      result.stderr.toString(),
      /^zeroshot: evaluated 3 clips; 3 without a label \(predicted, not scored\)$/m,
    )

    // Each listed prediction is the argmax of that clip's scores in the predictions table, whose label is null.
    const table = tableFromIPC(readFileSync(predictions), {useProxy: false})
    const ids = table.getChild('id').toArray() as string[]
    const scores = table.getChild('scores').toArray() as Float32Array[]
    assert.deepEqual([...table.getChild('label').toArray()], [null, null, null])
    assert.deepEqual(
      report.unlabelled.map((p: {id: string}) => p.id),
      ids,
    )
    report.unlabelled.forEach((p: {predicted: string; score: number}, i: number) => {
      const best = argmax(scores[i])
      assert.equal(p.predicted, ['dog', 'rain', 'chirping_birds', 'vacuum_cleaner'][best])
      assert.ok(Math.abs(p.score - scores[i][best]) <= 1e-6 * Math.max(1, Math.abs(p.score)))
    })

    // Without --classes the same table is refused with the way out; --plot has nothing to draw.
    const bare = vipant(['zeroshot', embedded, '--model', model, '--clip', model])
    assert.equal(bare.status, 2)
    assert.match(
      bare.stderr.toString(),
      /no class or label column to evaluate against; give the class names with --classes FILE/,
    )
    const plot = vipant([
      'zeroshot',
      embedded,
      '--model',
      model,
      '--clip',
      model,
      '--classes',
      classes,
      '--plot',
      path.join(dir, 'none.svg'),
    ])
    assert.equal(plot.status, 2)
    assert.match(plot.stderr.toString(), /--plot: no clip has a label, so there is no confusion matrix to draw/)
  },
)

test(
  "zeroshot --data esc50 without --model: the released checkpoint behind the paper's number, from the cache; offline and absent, one line",
  {skip: skipWithoutShared, timeout: 60_000},
  async () => {
    const model = await tinyModel
    const home = path.join(dir, 'home-default-model')
    const args = [
      'zeroshot',
      '--data',
      'esc50',
      sharedData('esc50'),
      '--offline',
      '--clip',
      model,
      '--max-len',
      String(TINY.audioMaxLen),
      '--json',
    ]
    const absent = vipant(args, {env: {VIPANT_HOME: home}})
    assert.equal(absent.status, 2)
    assert.match(
      absent.stderr.toString(),
      /^zeroshot: --model vipant-esc50 \(VIP-ANT VA audio tower, step 00083391: zero-shot ESC-50; --model to evaluate another\)$/m,
    )
    assert.match(absent.stderr.toString(), /model vipant-esc50 is not in .*home-default-model\/models/)

    // Placed by hand under the name `fetch model --list` gives, it is found and evaluated.
    // (vipant's one-file format here: the loader goes by content, not by name.)
    mkdirSync(path.join(home, 'models'), {recursive: true})
    const single = path.join(dir, 'tiny-single.safetensors')
    assert.equal(vipant(['convert', model, single]).status, 0)
    copyFileSync(single, path.join(home, 'models', 'vipant-va-00083391.pth'))
    const placed = vipant(args, {env: {VIPANT_HOME: home}})
    assert.equal(placed.status, 0, placed.stderr.toString())
    const report = JSON.parse(placed.stdout.toString())
    assert.equal(report.model.audio.path, path.join(home, 'models', 'vipant-va-00083391.pth'))
    assert.deepEqual([report.clips.evaluated, report.confusion.classes.length], [6, 50])
  },
)
