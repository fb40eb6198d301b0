import {statSync} from 'node:fs'
import {pathToFileURL} from 'node:url'
import {clotho} from '../src/lib/data/datasets/clotho.js'
import {us8k} from '../src/lib/data/datasets/us8k.js'
import {argmax, classificationMetrics, rankOf} from '../src/lib/eval/classification.js'
import type {ZeroShotReport} from '../src/lib/eval/report.js'
import type {RetrievalReport} from '../src/lib/eval/retrieval-report.js'
import {retrievalMetrics} from '../src/lib/eval/retrieval.js'
import type {RankRow, RetrievalClip} from '../src/lib/eval/retrieve.js'
import type {Prediction} from '../src/lib/eval/zeroshot.js'
import {writeHtml} from '../src/lib/html/write.js'
import type {Browser, Tab} from './html-browser.js'
import {sharedData} from './helpers.js'

/**
 * The two largest pages the issue names, from the shared data's real metadata: UrbanSound8K's 8732 clips (ids,
 * folds and classes of its CSV; the sound of each is a fold-10 clip of the same class, the only fold on disk) and
 * Clotho's evaluation split with its real captions. Scores come from a fixed-seed generator leaning towards the
 * right answer, so the pages have the shape of a real evaluation: what is measured is the page, not a model.
 */

/** A fixed-seed generator (mulberry32). */
export function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const protocolModel = {model: {audio: null, text: {path: '/none', files: []}}, backend: 'none', vipant: '0'}

export interface LargePage {
  file: string
  /** Clips, and captions for retrieval. */
  clips: number
  captions: number
  /** zeroshot: the fullest confusion cell [true, predicted, count]. */
  largestCell?: [number, number, number]
}

/** One labelled clip of a zeroshot page. */
export interface LabelledClip {
  id: string
  path: string | null
  fold: number
  label: number
}

/** A zeroshot page over CLIPS, scored by a fixed-seed generator; the report and predictions it shows. */
export async function writeZeroshotPage(
  file: string,
  clips: readonly LabelledClip[],
  classes: readonly string[],
  seed: number,
) {
  const next = random(seed)
  const predictions: Prediction[] = clips.map((c) => {
    const scores = Float64Array.from(classes, (_, j) => 0.2 + 0.1 * next() + (j === c.label ? 0.06 * next() : 0))
    return {...c, predicted: argmax(scores), scores}
  })
  const m = classificationMetrics(predictions as (Prediction & {label: number; fold: number})[], classes.length)
  const report = {
    task: 'zeroshot',
    ...protocolModel,
    protocol: {
      dataset: 'us8k',
      source: sharedData('us8k'),
      prompts: ['the sound of '],
      scoring: 'dot',
      audio_normalized: false,
      max_len: 1000,
      pooled: true,
    },
    clips: {listed: clips.length, evaluated: clips.length, missing: 0, failed: 0, unlabelled: 0},
    folds: {present: m.folds.map((f) => f.fold), listed: null},
    accuracy: m.accuracy,
    top5: m.top5,
    per_fold: m.folds,
    per_class: m.classes.map((c) => ({...c, name: classes[c.label]})),
    confusion: {classes: [...classes], matrix: m.confusion},
    unlabelled: [],
  } as ZeroShotReport
  await writeHtml(file, false, {kind: 'zeroshot', report, predictions})
  const largestCell = m.confusion
    .flatMap((row, t) => row.map((n, p): [number, number, number] => [t, p, n]))
    .reduce((a, b) => (b[2] > a[2] ? b : a))
  return {report, predictions, largestCell}
}

export async function us8kPage(file: string): Promise<LargePage> {
  const rows = []
  for await (const row of us8k.rows(sharedData('us8k'), {})) rows.push(row)
  const onDisk = rows.filter((r) => r.status === 'ok')
  const classes = us8k.classes!
  const byClass = classes.map((_, c) => onDisk.filter((r) => r.label === c).map((r) => r.path))
  const clips = rows.map((r, i) => ({
    id: r.id,
    path: byClass[r.label!][i % byClass[r.label!].length],
    fold: r.fold!,
    label: r.label!,
  }))
  const {largestCell} = await writeZeroshotPage(file, clips, classes, 7)
  return {file, clips: rows.length, captions: 0, largestCell}
}

/** A retrieval page over CLIPS (five captions each), scored by a fixed-seed generator; the report and ranks it shows. */
export async function writeRetrievalPage(file: string, clips: RetrievalClip[], seed: number) {
  const next = random(seed)
  const n = clips.length
  const sim = clips.map((_, i) =>
    Float64Array.from({length: 5 * n}, (_, q) => next() + (Math.floor(q / 5) === i ? 0.5 * next() : 0)),
  )
  const metrics = retrievalMetrics(sim)
  const ranks: RankRow[] = [
    ...sim.map((row, i) => ({
      direction: 'audio_to_text' as const,
      query: i,
      id: clips[i].id,
      text: null,
      rank: 1 + Math.min(...[0, 1, 2, 3, 4].map((k) => rankOf(row, 5 * i + k))),
    })),
    ...Array.from({length: 5 * n}, (_, q) => ({
      direction: 'text_to_audio' as const,
      query: q,
      id: clips[Math.floor(q / 5)].id,
      text: null,
      rank:
        1 +
        rankOf(
          Float64Array.from(sim, (r) => r[q]),
          Math.floor(q / 5),
        ),
    })),
  ]
  const report = {
    task: 'retrieve',
    ...protocolModel,
    protocol: {
      dataset: 'clotho',
      source: sharedData('clotho'),
      split: 'evaluation',
      prompt: '',
      captions_per_clip: 5,
      scoring: 'cosine',
      max_len: 1000,
      ties: 'lower index first',
      median: 'lower middle',
    },
    clips: {listed: n, evaluated: n, missing: 0, failed: 0},
    captions: 5 * n,
    audio_to_text: metrics.audioToText,
    text_to_audio: metrics.textToAudio,
  } as RetrievalReport
  await writeHtml(file, false, {kind: 'retrieval', report, ranks, clips, sim})
  return {report, ranks, sim}
}

export async function clothoPage(file: string): Promise<LargePage> {
  const rows = []
  for await (const row of clotho.rows(sharedData('clotho'), {split: 'evaluation'})) rows.push(row)
  const onDisk = rows.filter((r) => r.status === 'ok').map((r) => r.path)
  const clips = rows.map((r, i) => ({
    id: r.id,
    path: r.status === 'ok' ? r.path : onDisk[i % onDisk.length],
    captions: r.captions!,
    audio: new Float32Array(0),
  }))
  await writeRetrievalPage(file, clips, 11)
  return {file, clips: clips.length, captions: 5 * clips.length}
}

/** Milliseconds, measured in the page: from navigation to first contentful paint and to the end of the load event. */
export interface PageFigures {
  mib: number
  /** null where Chromium recorded no first contentful paint (seen once, on a loaded machine). */
  firstPaintMs: number | null
  loadMs: number
  /** Each interaction: from the input to the second frame after it (the answer painted). */
  interactions: Record<string, number>
}

const painted = `new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - window.__t))))`

/** Time from a real click on SELECTOR to the frame that shows its answer. */
export async function clickTime(tab: Tab, selector: string): Promise<number> {
  await tab.eval(`window.__t = performance.now()`)
  await tab.click(selector)
  return tab.eval(painted)
}

/** Time from a scroll to the page's end to the frame that shows it. */
export async function scrollTime(tab: Tab): Promise<number> {
  return tab.eval(
    `(() => { window.__t = performance.now(); window.scrollTo(0, document.documentElement.scrollHeight); return ${painted}; })()`,
  )
}

/** Opens FILE in a new tab and measures its first paint, load and the interactions given as [name, run]. */
export async function measurePage(
  browser: Browser,
  file: string,
  interactions: [string, (tab: Tab) => Promise<number>][],
): Promise<{tab: Tab; figures: PageFigures}> {
  const tab = await browser.open(pathToFileURL(file).href)
  const {paint, load} = await tab.eval<{
    paint: number | null
    load: number
  }>(`new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve({
    paint: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null,
    load: performance.getEntriesByType('navigation')[0].loadEventEnd}))))`)
  const figures: PageFigures = {mib: statSync(file).size / 2 ** 20, firstPaintMs: paint, loadMs: load, interactions: {}}
  for (const [name, run] of interactions) figures.interactions[name] = await run(tab)
  return {tab, figures}
}

/** The interactions measured on each large page: the selectors the pages' scripts build. */
export const US8K_INTERACTIONS = (cell: [number, number, number]): [string, (tab: Tab) => Promise<number>][] => [
  [
    `open the largest confusion cell (${cell[2]} clips)`,
    (tab) => clickTime(tab, `table.confusion button[data-true="${cell[0]}"][data-predicted="${cell[1]}"]`),
  ],
  ['next page of that cell', (tab) => clickTime(tab, '#cell .pager button:last-child')],
  ['scroll to the end', scrollTime],
]
export const CLOTHO_INTERACTIONS: [string, (tab: Tab) => Promise<number>][] = [
  ['next page of audio->text', (tab) => clickTime(tab, '#a2t .pager button:last-child')],
  ['next page of text->audio', (tab) => clickTime(tab, '#t2a .pager button:last-child')],
  ['scroll to the end', scrollTime],
]

export const describe = (name: string, page: LargePage, f: PageFigures) =>
  `${name} (${page.clips} clips${page.captions ? `, ${page.captions} captions` : ''}, ${f.mib.toFixed(1)} MiB): first paint ${f.firstPaintMs === null ? 'n/a' : f.firstPaintMs.toFixed(0)} ms, ` +
  `load ${f.loadMs.toFixed(0)} ms, ${Object.entries(f.interactions)
    .map(([k, v]) => `${k} ${v.toFixed(0)} ms`)
    .join(', ')}`
