/**
 * The --html pages at the sizes the issue names, opened in headless Chromium: UrbanSound8K's 8732 clips on the
 * zeroshot page and Clotho's evaluation captions on the retrieval page (test/html-large.ts builds both from the
 * shared data's metadata). Each page is opened RUNS times in a fresh tab; timed: the load event (the page's script
 * has drawn its first page of items by then), first contentful paint, and each interaction from the input to the
 * second frame after it (opening the fullest confusion cell, turning a page, scrolling to the end).
 */
import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {Browser, skipWithoutChromium} from '../test/html-browser.js'
import {
  CLOTHO_INTERACTIONS,
  clothoPage,
  measurePage,
  US8K_INTERACTIONS,
  us8kPage,
  type PageFigures,
} from '../test/html-large.js'
import {median} from './median.js'
import type {Benchmark, Measurement} from './run.js'

const RUNS = 3

export const html: Benchmark = {
  name: 'html',
  description:
    '--html pages of UrbanSound8K (8732 clips, zeroshot) and Clotho evaluation (retrieve) in headless Chromium',
  async run() {
    if (skipWithoutChromium) throw new Error(`html benchmark ${skipWithoutChromium}`)
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-bench-html-'))
    const us8k = await us8kPage(path.join(dir, 'us8k.html'))
    const clotho = await clothoPage(path.join(dir, 'clotho.html'))
    const pages = [
      {name: 'zeroshot us8k', page: us8k, work: us8k.clips, interactions: US8K_INTERACTIONS(us8k.largestCell!)},
      {name: 'retrieve clotho', page: clotho, work: clotho.captions, interactions: CLOTHO_INTERACTIONS},
    ]
    const browser = Browser.launch()
    const measurements: Measurement[] = []
    const details: Record<string, unknown> = {}
    try {
      for (const {name, page, work, interactions} of pages) {
        const runs: PageFigures[] = []
        for (let r = 0; r < RUNS; r++) runs.push((await measurePage(browser, page.file, interactions)).figures)
        measurements.push({name: `${name} (load)`, runsS: runs.map((f) => f.loadMs / 1000), work})
        const paints = runs.flatMap((f) => (f.firstPaintMs === null ? [] : [f.firstPaintMs]))
        details[name] = {
          clips: page.clips,
          captions: page.captions,
          mib: Number(runs[0].mib.toFixed(2)),
          median_ms: {
            first_paint: paints.length ? median(paints) : null,
            load: median(runs.map((f) => f.loadMs)),
            ...Object.fromEntries(
              Object.keys(runs[0].interactions).map((k) => [k, median(runs.map((f) => f.interactions[k]))]),
            ),
          },
          runs,
        }
      }
    } finally {
      await browser.close()
      rmSync(dir, {recursive: true, force: true})
    }
    details.load_average = os.loadavg()
    return {
      unit: 'items/s',
      workload: `${us8k.clips} clips; ${clotho.clips} clips with ${clotho.captions} captions; ${RUNS} fresh tabs each; the machine's 1-minute load ${os.loadavg()[0].toFixed(1)}`,
      measurements,
      unavailable: [],
      details,
    }
  },
}
