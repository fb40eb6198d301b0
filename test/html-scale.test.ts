import {after, test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {skipWithoutShared} from './helpers.js'
import {Browser, skipWithoutChromium} from './html-browser.js'
import {CLOTHO_INTERACTIONS, clothoPage, describe, measurePage, US8K_INTERACTIONS, us8kPage} from './html-large.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-html-scale-'))
let browser: Browser | undefined
after(() => browser?.close())
const skip = skipWithoutChromium || skipWithoutShared
/** A frozen tab, not a slow one: the figures are printed (and benchmarked by `npm run bench -- html`), never asserted. */
const FREEZE_MS = 5000

test(
  "all 8732 UrbanSound8K clips and Clotho's evaluation captions: the pages open, page and scroll without freezing",
  {skip, timeout: 180_000},
  async () => {
    const us8k = await us8kPage(path.join(dir, 'us8k.html'))
    const clotho = await clothoPage(path.join(dir, 'clotho.html'))
    assert.equal(us8k.clips, 8732)
    assert.ok(clotho.captions >= 4750, `${clotho.captions} Clotho evaluation captions`)
    browser = Browser.launch()

    const z = await measurePage(browser, us8k.file, US8K_INTERACTIONS(us8k.largestCell!))
    const [, , count] = us8k.largestCell!
    assert.equal(
      await z.tab.eval(`document.querySelectorAll('#cell li[data-id]').length`),
      25,
      'one page of the cell is drawn',
    )
    assert.match(
      await z.tab.eval<string>(`document.querySelector('#cell .pager').textContent`),
      new RegExp(`page 2 of ${Math.ceil(count / 25)} \\(${count}\\)`),
    )
    const r = await measurePage(browser, clotho.file, CLOTHO_INTERACTIONS)
    assert.equal(await r.tab.eval(`document.querySelectorAll('#t2a > ol > li').length`), 25)
    assert.match(
      await r.tab.eval<string>(`document.querySelector('#t2a .pager').textContent`),
      new RegExp(`page 2 of ${Math.ceil(clotho.captions / 25)} \\(${clotho.captions}\\)`),
    )
    assert.equal(
      await r.tab.eval(`document.querySelectorAll('main li').length < 1000`),
      true,
      'elements for the pages shown only',
    )

    console.log(describe('us8k zeroshot', us8k, z.figures))
    console.log(describe('clotho retrieve', clotho, r.figures))
    for (const f of [z.figures, r.figures]) {
      for (const [what, ms] of Object.entries({load: f.loadMs, ...f.interactions}))
        assert.ok(ms < FREEZE_MS, `${what}: ${ms} ms`)
    }
    assert.deepEqual([z.tab.errors, r.tab.errors], [[], []])
  },
)
