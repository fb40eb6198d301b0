import {after, test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {tableFromIPC} from '@uwdata/flechette'
import type {Field, RecordBatch} from '../src/lib/arrow/apache-arrow.js'
import {columnData, utf8, utf8List} from '../src/lib/arrow/columns.js'
import {sourceBatch, sourceSchema} from '../src/lib/arrow/stage.js'
import {tensorData, tensorField, type TensorType} from '../src/lib/arrow/tensor.js'
import {DEFAULT_MEL} from '../src/lib/audio/mel-config.js'
import {searchCaptions} from '../src/lib/eval/audio-search.js'
import {searchClips} from '../src/lib/eval/retrieve.js'
import {writeHtml} from '../src/lib/html/write.js'
import type {Embedder} from '../src/lib/towers/embedder.js'
import {vipant} from './cli.js'
import {sharedData, skipWithoutShared} from './helpers.js'
import {Browser, skipWithoutChromium, type Tab} from './html-browser.js'
import {facts} from './html-checks.js'
import {TINY, writeTinyVipant, tinyFlags} from './tiny-models.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-html-retrieval-'))
const tinyModel = writeTinyVipant(dir)
const skip = skipWithoutChromium || skipWithoutShared
let browser: Browser | undefined
after(() => browser?.close())
const load = (file: string) => (browser ??= Browser.launch()).open(pathToFileURL(file).href)

const loadedPlayers = (tab: Tab, selector = 'audio') =>
  tab.eval<
    boolean[]
  >(`Promise.all([...document.querySelectorAll(${JSON.stringify(selector)})].map((a) => a.readyState >= 1 || new Promise((resolve) => {
    a.addEventListener('loadedmetadata', () => resolve(true)); a.addEventListener('error', () => resolve(false)); setTimeout(() => resolve(a.readyState >= 1), 8000)
  })))`)

/** Each listed query of the list in SELECTOR: its index, shown rank, and its results' indices, scores and marks. */
const queries = (tab: Tab, selector: string) =>
  tab.eval<
    {q: number; rank: number; items: {item: number; score: number; correct: boolean}[]}[]
  >(`[...document.querySelectorAll(${JSON.stringify(`${selector} > ol > li`)})].map((li) => ({
    q: Number(li.dataset.query), rank: Number(li.querySelector('.rank').textContent),
    items: [...li.querySelectorAll('ol.top li')].map((t) => ({item: Number(t.dataset.item), score: Number(t.querySelector('[data-value]').dataset.value), correct: t.classList.contains('correct')}))}))`)

test(
  "retrieve --data clotho --html: metrics equal the report; each query's rank equals --predictions, worst first, its own items marked; pages turn",
  {skip, timeout: 120_000},
  async () => {
    const model = await tinyModel
    const page = path.join(dir, 'clotho.html')
    const predictions = path.join(dir, 'ranks.arrow')
    const run = vipant([
      'retrieve',
      '--data',
      'clotho',
      sharedData('clotho'),
      ...tinyFlags(model),
      '--predictions',
      predictions,
      '--html',
      page,
      '--json',
    ])
    assert.equal(run.status, 0, run.stderr.toString())
    const report = JSON.parse(run.stdout.toString())
    const tab = await load(page)

    const rows = await tab.eval<[string, string][][]>(
      `[...document.querySelectorAll('#metrics tbody tr')].map((tr) => [...tr.children].slice(2).map((td) => [td.textContent, td.querySelector('[data-value]').dataset.value]))`,
    )
    const expected = (m: any) =>
      [
        [m.r1, m.r1],
        [m.r5, m.r5],
        [m.r10, m.r10],
        [m.r50, m.r50],
        [m.median_rank, m.median_rank],
        [m.mean_rank, m.mean_rank],
        [100 * m.map10, m.map10],
      ].map(([shown, value]) => [shown.toFixed(2), String(value)])
    assert.deepEqual(rows, [expected(report.audio_to_text), expected(report.text_to_audio)])

    assert.deepEqual(
      await tab.eval(
        `[...document.querySelectorAll('#metrics tbody tr')].map((tr) => Number(tr.children[1].textContent))`,
      ),
      [report.audio_to_text.queries, report.text_to_audio.queries],
    )
    const shownFacts = await facts(tab)
    for (const [k, v] of Object.entries({...report.clips, captions: report.captions}))
      assert.equal(shownFacts[`clips ${k}`], String(v), `clips ${k}`)
    const table = tableFromIPC(readFileSync(predictions), {useProxy: false})
    const direction = table.getChild('direction').toArray() as string[]
    const query = Array.from(table.getChild('query').toArray() as Int32Array)
    const rank = Array.from(table.getChild('rank').toArray() as Int32Array)
    const rankOf = (d: string, q: number) => rank[direction.findIndex((x, r) => x === d && query[r] === q)]
    const check = (list: Awaited<ReturnType<typeof queries>>, d: string, own: (item: number, q: number) => boolean) => {
      for (const {q, rank: shown, items} of list) {
        assert.equal(shown, rankOf(d, q), `${d} query ${q}`)
        assert.deepEqual(
          items.map((i) => i.correct),
          items.map((i) => own(i.item, q)),
          `${d} query ${q}: marks`,
        )
        assert.deepEqual(
          items.map((i) => i.score),
          [...items.map((i) => i.score)].sort((a, b) => b - a),
          'results by score',
        )
        const first = items.findIndex((i) => i.correct)
        if (shown <= items.length)
          assert.equal(first + 1, shown, `${d} query ${q}: the first marked item is at its rank`)
      }
      assert.deepEqual(
        list.map((x) => x.rank),
        [...list.map((x) => x.rank)].sort((a, b) => b - a),
        'worst-ranked first',
      )
    }
    const a2t = await queries(tab, '#a2t')
    assert.equal(a2t.length, 7)
    check(a2t, 'audio_to_text', (caption, clip) => Math.floor(caption / 5) === clip)
    assert.deepEqual(
      await loadedPlayers(tab, '#a2t audio'),
      Array(7).fill(true),
      'players load (Clotho file names have spaces)',
    )
    // Ten results per caption: a play button each, which becomes a player (that loads) when pressed.
    assert.equal(await tab.eval(`document.querySelectorAll('#t2a audio').length`), 0)
    assert.equal(await tab.eval(`document.querySelectorAll('#t2a li[data-item] button.play').length`), 25 * 7)
    await tab.click('#t2a li[data-item] button.play')
    assert.deepEqual(await loadedPlayers(tab, '#t2a audio'), [true], 'the pressed result plays')
    assert.equal(await tab.eval(`document.activeElement.tagName`), 'AUDIO', 'focus moves to the player')

    // 35 captions: 25 on the first page, the other 10 after "next"; together every caption once.
    const first = await queries(tab, '#t2a')
    await tab.click('#t2a .pager button:last-child')
    const second = await queries(tab, '#t2a')
    assert.deepEqual([first.length, second.length], [25, 10])
    assert.deepEqual(
      [...first, ...second].map((x) => x.q).sort((a, b) => a - b),
      Array.from({length: 35}, (_, q) => q),
    )
    check([...first, ...second], 'text_to_audio', (clip, caption) => Math.floor(caption / 5) === clip)
    console.log(`screenshot: ${await tab.screenshot('retrieval.png')}`)
    assert.deepEqual(tab.errors, [])
  },
)

const HOSTILE = [
  '<script>alert(1)</script> a dog barks',
  '"><img src=x onerror=alert(2)> rain falls',
  'birds & <b>chirp</b>',
]

/** A table of three clips (real files, for the players), hostile captions, and embeddings placed by hand. */
function craftedTable() {
  const fields = [utf8('id'), utf8('path'), utf8List('captions'), tensorField('audio_emb', [3])]
  const schema = sourceSchema(fields, {command: 'test', version: '0', params: {}})
  const files = ['1-56234-A-9.wav', '2-100648-A-43.wav', '3-157695-A-0.wav'].map((f) => sharedData('esc50', 'audio', f))
  const columns = [
    columnData(fields[0], ['<i>clip a</i>', 'clip "b"', 'clip c']),
    columnData(fields[1], files),
    columnData(
      fields[2],
      HOSTILE.map((c) => [c]),
    ),
    tensorData(fields[3] as Field<TensorType>, [
      Float32Array.of(1, 0, 0),
      Float32Array.of(0, 1, 0),
      Float32Array.of(0.6, 0.8, 0),
    ]),
  ]
  async function* batches(): AsyncIterable<RecordBatch> {
    yield sourceBatch(schema, columns)
  }
  return {source: 'crafted.arrow', schema, batches: batches()}
}

/** Texts embed by their first letter's code (so queries land near chosen clips); audio always at (0, 1, 0). */
const embedder: Embedder = {
  dims: {text: 3, audio: 3},
  sources: {},
  embed: async (tower, rows) =>
    rows.map(([x]) =>
      tower === 'audio' ? Float32Array.of(0, 1, 0) : Float32Array.of(1, (x as string).charCodeAt(0) / 100, 0.1),
    ),
  close: async () => {},
}

test(
  "search pages (--query, --audio): results in the search's order with its scores, players load, hostile captions and ids stay text",
  {skip, timeout: 60_000},
  async () => {
    const search = await searchClips(craftedTable(), ['<img src=x onerror=alert(5)>', 'dog'], 3, embedder)
    const clipPage = path.join(dir, 'search.html')
    await writeHtml(clipPage, false, {kind: 'clip-search', search, source: 'crafted.arrow'})
    let tab = await load(clipPage)
    const shown = await tab.eval<
      {query: string; hits: [string, number][]}[]
    >(`[...document.querySelectorAll('section.query')].map((s) => ({
    query: s.querySelector('h2').textContent, hits: [...s.querySelectorAll('li[data-id]')].map((li) => [li.querySelector('.id').textContent, Number(li.querySelector('[data-value]').dataset.value)])}))`)
    assert.deepEqual(
      shown,
      search.results.map((r) => ({query: r.query, hits: r.results.map((h) => [h.id, h.score])})),
    )
    assert.deepEqual(await loadedPlayers(tab), [true, true, true, true, true, true])
    assert.equal(await tab.eval(`document.querySelectorAll('main img, main i').length`), 0)
    assert.deepEqual([tab.errors, tab.dialogs], [[], []])

    const audio = sharedData('esc50', 'audio', '2-100648-A-43.wav')
    const result = await searchCaptions(craftedTable(), audio, 3, embedder, {...DEFAULT_MEL, maxLen: TINY.audioMaxLen})
    const captionPage = path.join(dir, 'captions.html')
    await writeHtml(captionPage, true, {kind: 'caption-search', result, source: 'crafted.arrow'})
    tab = await load(captionPage)
    const captions = await tab.eval<
      [string, string, number][]
    >(`[...document.querySelectorAll('#captions li[data-id]')].map((li) =>
    [li.querySelector('.id').textContent, li.querySelector('.caption').textContent, Number(li.querySelector('[data-value]').dataset.value)])`)
    assert.deepEqual(
      captions,
      result.results.map((r) => [r.id, r.caption, r.score]),
    )
    assert.deepEqual(captions.map((c) => c[1]).sort(), [...HOSTILE].sort())
    assert.deepEqual(await loadedPlayers(tab), [true], 'the query sound, copied beside the page, plays')
    assert.equal(await tab.eval(`document.querySelectorAll('main img, main b, main i').length`), 0)
    console.log(`screenshot: ${await tab.screenshot('captions.png')}`)
    assert.deepEqual([tab.errors, tab.dialogs], [[], []])
  },
)
