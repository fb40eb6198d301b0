import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {checkPlotPath} from '../src/lib/eval/plot-file.js'
import {niceTicks} from '../src/lib/train/curves-svg.js'
import {parseMetricsLog} from '../src/lib/train/metrics-log.js'
import {vipant} from './cli.js'
import {parseXml} from './xml.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-report-'))

/**
 * A run of 30 steps, evaluated every 10, killed after step 20 and resumed from its step-15 checkpoint (so
 * steps 16-20 are logged twice, the second time with other values), then killed mid-line after step 30.
 */
const loss = (step: number, resumed: boolean) => 3 / step + (resumed ? 0.01 : 0.5)
function trainLine(step: number, resumed = false) {
  return JSON.stringify({
    step,
    epoch: Math.floor((step - 1) / 10),
    loss: loss(step, resumed),
    lr: 0.001 * Math.min(1, step / 5),
    logit_scale: 2.5 + step / 100,
    grad_norm: 10 / step,
    clips_per_s: 40 + step,
    time: step * 0.25,
  })
}
const evalLine = (step: number) =>
  JSON.stringify({step, eval: {a2i_top1: step === 30 ? 0.4 : step / 50, 'R@1': step, median_rank: 40 - step}})
const lines = [
  ...[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((s) => trainLine(s)),
  evalLine(10),
  ...[11, 12, 13, 14, 15, 16, 17, 18, 19, 20].map((s) => trainLine(s)),
  ...[16, 17, 18, 19, 20].map((s) => trainLine(s, true)),
  evalLine(20),
  ...[21, 22, 23, 24, 25, 26, 27, 28, 29, 30].map((s) => trainLine(s, true)),
  evalLine(30),
  '{"step": 31, "epoch": 3, "loss": 0.1',
]
const run = path.join(dir, 'run')
mkdirSync(run)
writeFileSync(path.join(run, 'metrics.jsonl'), lines.join('\n'))
const SERIES = ['loss', 'lr', 'logit_scale', 'grad_norm', 'a2i_top1', 'R@1', 'median_rank']

test('report: one polyline per series, with one point per step, in value order; the cut last line skipped with a warning', () => {
  const r = vipant(['report', run])
  assert.equal(r.status, 0, r.stderr.toString())
  assert.equal(
    r.stderr.toString(),
    `vipant report: ${path.join(run, 'metrics.jsonl')}:${lines.length}: skipped, not valid JSON (cut short?)\n`,
  )
  const elements = parseXml(readFileSync(path.join(run, 'report.svg'), 'utf8'))
  assert.equal(elements[0].name, 'svg')
  const curves = elements.filter((e) => e.name === 'polyline')
  assert.deepEqual(
    curves.map((c) => c.attrs['data-series']),
    SERIES,
  )
  assert.deepEqual(
    curves.map((c) => c.attrs['data-kind']),
    ['train', 'train', 'train', 'train', 'eval', 'eval', 'eval'],
  )
  const points = (name: string) =>
    curves
      .find((c) => c.attrs['data-series'] === name)!
      .attrs.points.split(' ')
      .map((p) => p.split(',').map(Number))
  assert.deepEqual(
    SERIES.map((s) => points(s).length),
    [30, 30, 30, 30, 3, 3, 3],
  )
  // Each curve maps step to x and value to y (upwards): pixel order follows the data's.
  const lossValues = [...Array(30).keys()].map((i) => loss(i + 1, i + 1 > 15))
  const lossPoints = points('loss')
  for (let i = 1; i < 30; i++) {
    assert.ok(lossPoints[i][0] > lossPoints[i - 1][0])
    assert.equal(
      Math.sign(lossPoints[i - 1][1] - lossPoints[i][1]),
      Math.sign(lossValues[i] - lossValues[i - 1]),
      `step ${i + 1}`,
    )
  }
  // A shared step axis: step 10 sits at the same x in the loss panel's frame as in the R@1 panel's.
  const panelLeft = (name: string) =>
    Number(elements[elements.findIndex((e) => e.name === 'g' && e.attrs['data-series'] === name) + 2].attrs.x)
  assert.ok(Math.abs(points('loss')[9][0] - panelLeft('loss') - (points('R@1')[0][0] - panelLeft('R@1'))) < 0.01)
  assert.equal(elements.filter((e) => e.name === 'circle').length, 9, 'evaluation points are marked')

  const text = r.stdout.toString().split('\n')
  assert.equal(
    text[0],
    `${path.join(run, 'metrics.jsonl')}: 30 train steps (steps 1..30), epoch 2, 70 clips/s; 3 evaluations`,
  )
  assert.match(r.stdout.toString(), /^ {2}loss +last 0\.11 @30 {2}best 0\.11 @30 \(min\)$/m)
  assert.match(r.stdout.toString(), /^ {2}a2i_top1 +last 0\.4 @30 {2}best 0\.4 @20 \(max\)$/m)
  assert.equal(text.at(-2), `chart: ${path.join(run, 'report.svg')}`)
})

test('report --json: steps, last and best values with their steps; a resumed run keeps the later records', () => {
  const r = vipant(['report', run, '--json', '-o', path.join(dir, 'curves.svg')])
  assert.equal(r.status, 0, r.stderr.toString())
  const summary = JSON.parse(r.stdout.toString())
  assert.equal(summary.plot, path.join(dir, 'curves.svg'))
  assert.deepEqual(
    [summary.trainSteps, summary.firstStep, summary.lastStep, summary.epoch, summary.clipsPerS, summary.evaluations],
    [30, 1, 30, 2, 70, 3],
  )
  assert.deepEqual(summary.skipped, [{line: lines.length, why: 'not valid JSON (cut short?)'}])
  const series = Object.fromEntries(summary.series.map((s: {name: string}) => [s.name, s]))
  assert.deepEqual(Object.keys(series), SERIES)
  // Step 16 as the resumed run logged it, not as the first attempt did.
  assert.deepEqual(series.loss.best, {step: 30, value: loss(30, true)})
  assert.deepEqual(series.loss.last, {step: 30, value: loss(30, true)})
  assert.equal(series.loss.points, 30)
  assert.deepEqual([series.lr.best, series.lr.better, series.lr.last], [null, null, {step: 30, value: 0.001}])
  assert.deepEqual(series.grad_norm.last, {step: 30, value: 10 / 30})
  // Higher is better, ties go to the first step that reached the value: a2i_top1 is 0.4 at 20 and at 30.
  assert.deepEqual([series.a2i_top1.best, series.a2i_top1.better], [{step: 20, value: 0.4}, 'max'])
  assert.deepEqual(series['R@1'].best, {step: 30, value: 30})
  assert.deepEqual([series.median_rank.best, series.median_rank.better], [{step: 30, value: 10}, 'min'])
  assert.equal(
    parseXml(readFileSync(path.join(dir, 'curves.svg'), 'utf8')).filter((e) => e.name === 'polyline').length,
    7,
  )
})

test('report -o .png when a rasteriser is present; clear one-line errors', async () => {
  const png = path.join(dir, 'curves.png')
  if (
    await checkPlotPath(png).then(
      () => true,
      () => false,
    )
  ) {
    const r = vipant(['report', run, '-o', png])
    assert.equal(r.status, 0, r.stderr.toString())
    assert.deepEqual([...readFileSync(png).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  }
  const missing = vipant(['report', path.join(dir, 'nope')])
  assert.deepEqual(
    [missing.status, missing.stderr.toString()],
    [2, `vipant report: ${path.join(dir, 'nope')}: no such run directory\n`],
  )
  const empty = path.join(dir, 'empty')
  mkdirSync(empty)
  const noLog = vipant(['report', empty])
  assert.deepEqual(
    [noLog.status, noLog.stderr.toString()],
    [
      2,
      `vipant report: ${path.join(empty, 'metrics.jsonl')}: no metrics file (is ${empty} a vipant pretrain/finetune run directory?)\n`,
    ],
  )
  const pdf = vipant(['report', run, '-o', path.join(dir, 'c.pdf')])
  assert.deepEqual(
    [pdf.status, pdf.stderr.toString()],
    [2, `vipant report: ${path.join(dir, 'c.pdf')}: -o writes .svg or .png\n`],
  )
})

test('tick values are round and enclose the data', () => {
  assert.deepEqual(niceTicks(0.13, 0.87), [0, 0.2, 0.4, 0.6, 0.8, 1])
  assert.deepEqual(niceTicks(1, 30), [0, 10, 20, 30])
  assert.deepEqual(niceTicks(0.0001, 0.0001), [0.00009, 0.000095, 0.0001, 0.000105, 0.00011])
})

test("a resumed run's records replace, from their step on, everything the interrupted attempt logged", () => {
  const train = (step: number, loss: number | null) =>
    JSON.stringify({step, epoch: 0, loss, lr: 0.1, logit_scale: 1, grad_norm: 1})
  const text = [
    ...[1, 2, 3, 4].map((s) => train(s, 10 - s)),
    JSON.stringify({step: 2, eval: {R1: 5}}),
    JSON.stringify({step: 4, eval: {R1: 7, 'median rank': 3}}),
    // Resumed from the step-2 checkpoint and killed again after step 3; step 3's loss was not finite (null).
    train(3, 1),
    train(3, null),
    '',
    'garbage',
  ].join('\n')
  const log = parseMetricsLog(text, 'm.jsonl')
  const curve = (name: string) => log.series.find((s) => s.name === name)?.points.map((p) => [p.step, p.value])
  assert.deepEqual(curve('loss'), [
    [1, 9],
    [2, 8],
  ])
  assert.deepEqual(curve('lr'), [
    [1, 0.1],
    [2, 0.1],
    [3, 0.1],
  ])
  assert.deepEqual(curve('R1'), [[2, 5]])
  assert.equal(curve('median rank'), undefined, 'a metric whose every point was undone is gone')
  assert.equal(log.trainSteps, 3)
  assert.deepEqual(log.skipped, [{line: 10, why: 'not valid JSON (cut short?)'}])
})
