import {after, test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {writeHtml} from '../src/lib/html/write.js'
import {sharedData, skipWithoutShared} from './helpers.js'
import {Browser, skipWithoutChromium, type Tab} from './html-browser.js'
import {facts, lowContrast, operable, tabStops} from './html-checks.js'
import {writeRetrievalPage, writeZeroshotPage} from './html-large.js'

/**
 * Every page kind with user data made hostile (class names, clip ids, captions, queries that are markup), checked
 * for what a reader without a mouse, or with weak eyes, or printing in grayscale needs: text contrast, Tab
 * reaching every control with a visible focus ring, Enter operating cells, pagers and play buttons; and that the
 * hostile strings come out as text, with no dialog and no console error.
 */
const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-html-a11y-'))
const skip = skipWithoutChromium || skipWithoutShared
let browser: Browser | undefined
after(() => browser?.close())
const load = (file: string) => (browser ??= Browser.launch()).open(pathToFileURL(file).href)

const HOSTILE = ['<script>alert(1)</script>', '"><img src=x onerror=alert(2)>', "'><svg onload=alert(3)>"]
const WAVS = ['1-56234-A-9.wav', '2-100648-A-43.wav', '3-157695-A-0.wav'].map((f) => sharedData('esc50', 'audio', f))
/** Elements the hostile strings would make if they were parsed as markup. */
const MADE = `document.querySelectorAll('main img, main svg, main script, [onerror], [onload]').length`

/** Presses Tab until SELECTOR has the focus (at most MAX times), then Enter. */
async function tabTo(tab: Tab, selector: string, max = 300): Promise<void> {
  for (let k = 0; k < max; k++) {
    await tab.key('Tab')
    if (await tab.eval(`document.activeElement === document.querySelector(${JSON.stringify(selector)})`))
      return tab.key('Enter')
  }
  assert.fail(`Tab never reached ${selector}`)
}

async function checkKeyboard(tab: Tab, presses: number): Promise<void> {
  const stops = await tabStops(tab, presses)
  assert.deepEqual(
    stops.filter((s) => !s.ring),
    [],
    'every stop shows a focus ring',
  )
  const unreached = (await operable(tab)).filter((c) => c.stop === null)
  assert.deepEqual(unreached, [], 'Tab reaches every button and player')
}

test(
  'zeroshot page, hostile class names and ids: contrast, grayscale matrix, keyboard through cells and pages, text not markup',
  {skip, timeout: 120_000},
  async () => {
    const classes = [HOSTILE[0], HOSTILE[1], 'dog & <b>cat</b>']
    const clips = Array.from({length: 240}, (_, i) => ({
      id: `${HOSTILE[i % 3]} #${i}`,
      path: WAVS[i % 3],
      fold: 1 + (i % 4),
      label: i % 3,
    }))
    const file = path.join(dir, 'zeroshot.html')
    const {
      report,
      largestCell: [i, j, count],
    } = await writeZeroshotPage(file, clips, classes, 3)
    assert.ok(count > 25, `the fullest cell (${count}) spans pages`)
    const tab = await load(file)

    assert.deepEqual(
      await tab.eval(
        `[...document.querySelectorAll('#per-class tbody td:nth-child(2)')].map((td) => td.textContent).sort()`,
      ),
      [...classes].sort(),
    )
    assert.deepEqual(
      await tab.eval(`[...document.querySelectorAll('table.confusion thead th[title]')].map((th) => th.title)`),
      classes,
    )
    const shownFacts = await facts(tab)
    for (const [k, v] of Object.entries(report.clips)) assert.equal(shownFacts[`clips ${k}`], String(v), `clips ${k}`)
    assert.deepEqual(await lowContrast(tab), [], 'text contrast >= 4.5:1')

    // Grayscale: the cells are grays whose lightness falls as their share of the row rises.
    const cellsShown = await tab.eval<
      [number, number, number, number][]
    >(`[...document.querySelectorAll('table.confusion button')].map((b) => {
    const [r, g, bl] = getComputedStyle(b).backgroundColor.match(/\\d+/g).map(Number); return [Number(b.dataset.true), Number(b.textContent), r, g === r && bl === r ? 1 : 0]; })`)
    assert.ok(
      cellsShown.every((c) => c[3] === 1),
      'gray cells',
    )
    const share = (c: [number, number, number, number]) =>
      c[1] / report.confusion.matrix![c[0]].reduce((a, b) => a + b, 0)
    const byShare = [...cellsShown].sort((a, b) => share(a) - share(b))
    for (let k = 1; k < byShare.length; k++)
      assert.ok(byShare[k][2] <= byShare[k - 1][2], 'a larger share is never lighter')

    // Keyboard: Tab to the fullest cell, Enter lists its clips; Tab to "next", Enter turns the page.
    await tabTo(tab, `table.confusion button[data-true="${i}"][data-predicted="${j}"]`)
    assert.match(
      await tab.eval<string>(`document.querySelector('#cell h3').textContent`),
      new RegExp(`: ${count} clips$`),
    )
    assert.deepEqual(
      await tab.eval(
        `[...document.querySelectorAll('#cell li[data-id] .id')].slice(0, 3).map((s) => s.textContent.split(' #')[0])`,
      ),
      [HOSTILE[i], HOSTILE[i], HOSTILE[i]].slice(0, 3),
    )
    await tabTo(tab, '#cell .pager button:last-child')
    assert.match(
      await tab.eval<string>(`document.querySelector('#cell .pager').textContent`),
      new RegExp(`page 2 of ${Math.ceil(count / 25)} \\(${count}\\)`),
    )
    assert.deepEqual(await lowContrast(tab), [], 'text contrast >= 4.5:1 with a cell open')
    // Right and wrong differ in symbol and word, not in hue alone.
    assert.deepEqual(
      await tab.eval(`['ok', 'bad'].map((c) => { const m = document.createElement('span'); m.className = c; document.body.append(m);
    const mark = getComputedStyle(m, '::before').content; m.remove(); return mark; })`),
      ['"\u2713 "', '"\u2717 "'],
    )
    assert.deepEqual(
      await tab.eval(
        `[...new Set([...document.querySelectorAll('#cell .ok, #cell .bad')].map((m) => m.className + ' ' + m.textContent))]`,
      ),
      [i === j ? 'ok correct' : 'bad wrong'],
    )
    await checkKeyboard(tab, 400)
    assert.equal(await tab.eval(MADE), 0, 'no element made from user data')
    assert.deepEqual([tab.errors, tab.dialogs], [[], []])
  },
)

test(
  'retrieval page, hostile captions and ids: contrast, keyboard through pages and play buttons, numbers, text not markup',
  {skip, timeout: 120_000},
  async () => {
    const clips = Array.from({length: 12}, (_, c) => ({
      id: `${HOSTILE[c % 3]}-${c}`,
      path: WAVS[c % 3],
      audio: new Float32Array(0),
      captions: Array.from({length: 5}, (_, k) => `${HOSTILE[(c + k) % 3]} caption ${k} of ${c}`),
    }))
    const file = path.join(dir, 'retrieval.html')
    const {report} = await writeRetrievalPage(file, clips, 5)
    const tab = await load(file)
    const shownFacts = await facts(tab)
    for (const [k, v] of Object.entries({...report.clips, captions: report.captions}))
      assert.equal(shownFacts[`clips ${k}`], String(v), `clips ${k}`)
    assert.deepEqual(
      await tab.eval(
        `[...document.querySelectorAll('#metrics tbody tr')].map((tr) => Number(tr.children[1].textContent))`,
      ),
      [report.audio_to_text.queries, report.text_to_audio.queries],
    )
    const captions = clips.flatMap((c) => c.captions)
    const shownCaptions = await tab.eval<string[]>(
      `[...document.querySelectorAll('#t2a .query')].map((s) => s.textContent)`,
    )
    assert.equal(shownCaptions.length, 25)
    assert.ok(
      shownCaptions.every((c) => captions.includes(c)),
      'captions shown as written',
    )
    assert.deepEqual(
      (await tab.eval<string[]>(`[...document.querySelectorAll('#a2t .head .id')].map((s) => s.textContent)`)).sort(),
      clips.map((c) => c.id).sort(),
    )
    assert.deepEqual(await lowContrast(tab), [], 'text contrast >= 4.5:1')

    await tabTo(tab, '#t2a .pager button:last-child')
    assert.match(await tab.eval<string>(`document.querySelector('#t2a .pager').textContent`), /page 2 of 3 \(60\)/)
    await tabTo(tab, '#t2a li[data-item] button.play')
    assert.equal(
      await tab.eval(`document.activeElement.tagName`),
      'AUDIO',
      'Enter on a play button gives its player the focus',
    )
    await checkKeyboard(tab, 600)
    assert.equal(await tab.eval(MADE), 0, 'no element made from user data')
    assert.deepEqual([tab.errors, tab.dialogs], [[], []])
  },
)

test(
  'search pages, hostile queries, ids and captions: contrast, keyboard, the numbers of the search, text not markup',
  {skip, timeout: 60_000},
  async () => {
    const results = HOSTILE.map((query, q) => ({
      query,
      results: Array.from({length: 3}, (_, r) => ({
        rank: r + 1,
        id: `${HOSTILE[(q + r) % 3]}.${r}`,
        path: WAVS[r],
        score: 0.5 - 0.1 * r - 0.01 * q,
      })),
    }))
    const search = {results, clips: 3, failed: 1, k: 3}
    const clipPage = path.join(dir, 'search.html')
    await writeHtml(clipPage, false, {kind: 'clip-search', search, source: HOSTILE[2]})
    let tab = await load(clipPage)
    const shownFacts = await facts(tab)
    assert.deepEqual(
      [shownFacts.searched, shownFacts.clips, shownFacts['failed to decode'], shownFacts.top],
      [HOSTILE[2], '3', '1', '3'],
    )
    assert.deepEqual(
      await tab.eval(`[...document.querySelectorAll('section.query')].map((s) => [s.querySelector('h2').textContent,
    [...s.querySelectorAll('li[data-id]')].map((li) => [li.querySelector('.head span').textContent, li.querySelector('.id').textContent, Number(li.querySelector('[data-value]').dataset.value)])])`),
      results.map((r) => [r.query, r.results.map((h) => [`#${h.rank}`, h.id, h.score])]),
    )
    assert.deepEqual(await lowContrast(tab), [], 'text contrast >= 4.5:1')
    await checkKeyboard(tab, 100)
    assert.equal(await tab.eval(MADE), 0)
    assert.deepEqual([tab.errors, tab.dialogs], [[], []])

    const result = {
      audio: WAVS[1],
      results: HOSTILE.map((caption, r) => ({rank: r + 1, id: `${HOSTILE[2 - r]}`, caption, score: 0.3 - 0.1 * r})),
    }
    const captionPage = path.join(dir, 'captions.html')
    await writeHtml(captionPage, false, {kind: 'caption-search', result, source: 'table.arrow'})
    tab = await load(captionPage)
    assert.deepEqual(
      await tab.eval(`[...document.querySelectorAll('#captions li[data-id]')].map((li) => [li.querySelector('.head span').textContent,
    li.querySelector('.caption').textContent, li.querySelector('.id').textContent, Number(li.querySelector('[data-value]').dataset.value)])`),
      result.results.map((r) => [`#${r.rank}`, r.caption, r.id, r.score]),
    )
    assert.equal((await facts(tab)).top, '3')
    assert.deepEqual(await lowContrast(tab), [], 'text contrast >= 4.5:1')
    await checkKeyboard(tab, 40)
    assert.equal(await tab.eval(MADE), 0)
    assert.deepEqual([tab.errors, tab.dialogs], [[], []])
  },
)
