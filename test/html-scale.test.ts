import {after, test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, statSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {argmax, classificationMetrics} from '../src/lib/eval/classification.js'
import type {ZeroShotReport} from '../src/lib/eval/report.js'
import type {RetrievalReport} from '../src/lib/eval/retrieval-report.js'
import {retrievalMetrics} from '../src/lib/eval/retrieval.js'
import type {RankRow} from '../src/lib/eval/retrieve.js'
import {writeHtml} from '../src/lib/html/write.js'
import {rankOf} from '../src/lib/eval/classification.js'
import {sharedData, skipWithoutShared} from './helpers.js'
import {Browser, skipWithoutChromium, type Tab} from './html-browser.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-html-scale-'))
let browser: Browser | undefined
after(() => browser?.close())
const skip = skipWithoutChromium || skipWithoutShared

/** A fixed-seed generator (mulberry32), so the synthetic sets are the same on every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Milliseconds from navigation to first contentful paint and to the load event (the page's script has run by then). */
async function timings(tab: Tab): Promise<{paint: number; load: number}> {
  return tab.eval(`new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve({
    paint: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN,
    load: performance.getEntriesByType('navigation')[0].loadEventEnd}))))`)
}

/** A click and the time until the page painted its answer. */
async function clickTime(tab: Tab, selector: string): Promise<number> {
  await tab.eval(`window.__t = performance.now()`)
  await tab.click(selector)
  return tab.eval(`new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - window.__t))))`)
}

test('8732 UrbanSound8K-sized clips and 4750 Clotho-sized captions: first paint and the first click stay quick', {skip, timeout: 120_000}, async () => {
  const next = random(7)
  const wav = sharedData('esc50', 'audio', '1-56234-A-9.wav')
  const classes = ['air_conditioner', 'car_horn', 'children_playing', 'dog_bark', 'drilling', 'engine_idling', 'gun_shot', 'jackhammer', 'siren', 'street_music']
  const predictions = Array.from({length: 8732}, (_, i) => {
    const label = i % 10
    const scores = Float64Array.from(classes, (_, j) => next() + (j === label ? 0.3 : 0))
    return {id: `clip-${i}`, path: wav, fold: 1 + (i % 10), label, predicted: argmax(scores), scores}
  })
  const m = classificationMetrics(predictions as {label: number; fold: number; scores: Float64Array}[], classes.length)
  const report = {
    task: 'zeroshot', vipant: '0', protocol: {dataset: 'us8k', source: 'synthetic', prompts: ['the sound of '], scoring: 'dot', audio_normalized: false, max_len: 1000, pooled: true},
    model: {audio: null, text: {path: '/none', files: []}}, backend: 'none',
    clips: {listed: 8732, evaluated: 8732, missing: 0, failed: 0, unlabelled: 0}, folds: {present: m.folds.map((f) => f.fold), listed: null},
    accuracy: m.accuracy, top5: m.top5, per_fold: m.folds, per_class: m.classes.map((c) => ({...c, name: classes[c.label]})),
    confusion: {classes, matrix: m.confusion}, unlabelled: [],
  } as ZeroShotReport
  const us8k = path.join(dir, 'us8k.html')
  await writeHtml(us8k, false, {kind: 'zeroshot', report, predictions})

  const clips = Array.from({length: 950}, (_, i) => ({id: `c${i}`, path: wav, captions: Array.from({length: 5}, (_, k) => `caption ${k} of clip ${i}`), audio: new Float32Array(0)}))
  const sim = clips.map((_, i) => Float64Array.from({length: 4750}, (_, q) => next() + (Math.floor(q / 5) === i ? 0.2 : 0)))
  const metrics = retrievalMetrics(sim)
  const ranks: RankRow[] = [
    ...sim.map((row, i) => ({direction: 'audio_to_text' as const, query: i, id: clips[i].id, text: null, rank: 1 + Math.min(...[0, 1, 2, 3, 4].map((k) => rankOf(row, 5 * i + k)))})),
    ...Array.from({length: 4750}, (_, q) => ({direction: 'text_to_audio' as const, query: q, id: clips[Math.floor(q / 5)].id, text: null, rank: 1 + rankOf(Float64Array.from(sim, (r) => r[q]), Math.floor(q / 5))})),
  ]
  const retrieval = {
    task: 'retrieve', vipant: '0',
    protocol: {dataset: 'clotho', source: 'synthetic', split: 'evaluation', prompt: 'the sound of', captions_per_clip: 5, scoring: 'cosine', max_len: 1000, ties: 'lower index first', median: 'lower middle'},
    model: {audio: null, text: {path: '/none', files: []}}, backend: 'none', clips: {listed: 950, evaluated: 950, missing: 0, failed: 0}, captions: 4750,
    audio_to_text: metrics.audioToText, text_to_audio: metrics.textToAudio,
  } as RetrievalReport
  const clotho = path.join(dir, 'clotho.html')
  await writeHtml(clotho, false, {kind: 'retrieval', report: retrieval, ranks, clips, sim})

  browser = Browser.launch()
  const us8kTab = await browser.open(pathToFileURL(us8k).href)
  const us8kTimes = await timings(us8kTab)
  // The largest cell: 800-odd clips, of which one page is drawn.
  const [i, j] = m.confusion.flatMap((row, t) => row.map((n, p) => [t, p, n])).reduce((a, b) => (b[2] > a[2] ? b : a))
  const cell = await clickTime(us8kTab, `table.confusion button[data-true="${i}"][data-predicted="${j}"]`)
  assert.equal(await us8kTab.eval(`document.querySelectorAll('#cell li[data-id]').length`), 25)
  assert.match(await us8kTab.eval<string>(`document.querySelector('#cell .pager').textContent`), new RegExp(`of ${Math.ceil(m.confusion[i][j] / 25)} \\(${m.confusion[i][j]}\\)`))
  const clothoTab = await browser.open(pathToFileURL(clotho).href)
  const clothoTimes = await timings(clothoTab)
  const turn = await clickTime(clothoTab, '#t2a .pager button:last-child')
  assert.equal(await clothoTab.eval(`document.querySelectorAll('#t2a > ol > li').length`), 25)
  const mb = (f: string) => (statSync(f).size / 2 ** 20).toFixed(1)
  console.log(`us8k (8732 clips, ${mb(us8k)} MiB): first paint ${us8kTimes.paint.toFixed(0)} ms, load ${us8kTimes.load.toFixed(0)} ms, open the largest cell (${m.confusion[i][j]} clips) ${cell.toFixed(0)} ms`)
  console.log(`clotho (950 clips, 4750 captions, ${mb(clotho)} MiB): first paint ${clothoTimes.paint.toFixed(0)} ms, load ${clothoTimes.load.toFixed(0)} ms, next page ${turn.toFixed(0)} ms`)
  // Generous bounds for a loaded 2-core CI machine; the measured times are printed above.
  for (const t of [us8kTimes.load, clothoTimes.load]) assert.ok(t < 10_000, `load ${t} ms`)
  for (const t of [cell, turn]) assert.ok(t < 2_000, `interaction ${t} ms`)
  assert.deepEqual([us8kTab.errors, clothoTab.errors], [[], []])
})
