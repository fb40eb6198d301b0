import {after, test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {vipant} from './cli.js'
import {Browser, skipWithoutChromium} from './html-browser.js'
import {facts, lowContrast} from './html-checks.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-html-training-'))
let browser: Browser | undefined
after(() => browser?.close())

/** A 20-step run evaluated at steps 10 and 20 (one metric named like markup), with two checkpoints and its train.yaml. */
const HOSTILE_METRIC = '<img src=x onerror=alert(1)>'
const evals = {10: {'R@1': 12.5, [HOSTILE_METRIC]: 0.25}, 20: {'R@1': 20.75, [HOSTILE_METRIC]: 0.125}}
const run = path.join(dir, 'run')
mkdirSync(path.join(run, 'checkpoints'), {recursive: true})
const lines = []
for (let step = 1; step <= 20; step++) {
  lines.push(
    JSON.stringify({
      step,
      epoch: Math.floor((step - 1) / 10),
      loss: 3 / step,
      lr: 0.001,
      logit_scale: 2.5,
      grad_norm: 1 / step,
      clips_per_s: 40,
      time: step,
    }),
  )
  if (step in evals) lines.push(JSON.stringify({step, eval: evals[step as 10 | 20]}))
}
writeFileSync(path.join(run, 'metrics.jsonl'), `${lines.join('\n')}\n`)
const CONFIG = 'task: at\nlr: 0.001\nnote: "<b>not markup</b> & more"\n'
writeFileSync(path.join(run, 'train.yaml'), CONFIG)
for (const step of [10, 20]) {
  const ckpt = path.join(run, 'checkpoints', `step-${String(step).padStart(8, '0')}`)
  mkdirSync(ckpt)
  writeFileSync(
    path.join(ckpt, 'state.json'),
    JSON.stringify({step, epoch: step / 10, time: step * 1.5, seed: 1, counters: {}}),
  )
  writeFileSync(path.join(ckpt, 'model.safetensors'), '')
}

test(
  'report --html: curves inline, last/best equal --json, evaluations by step, checkpoints, the config as text',
  {skip: skipWithoutChromium, timeout: 60_000},
  async () => {
    const page = path.join(dir, 'run.html')
    const r = vipant(['report', run, '--html', page, '--json', '-o', path.join(dir, 'curves.svg')])
    assert.equal(r.status, 0, r.stderr.toString())
    const summary = JSON.parse(r.stdout.toString())
    const tab = await (browser ??= Browser.launch()).open(pathToFileURL(page).href)

    const value = (td: string) => `td:nth-child(${td}) [data-value]`
    const shown = await tab.eval<
      [string, number, number, number | null][]
    >(`[...document.querySelectorAll('#summary tbody tr')].map((tr) => [tr.children[0].textContent,
    Number(tr.querySelector(${JSON.stringify(value('4'))}).dataset.value), Number(tr.children[4].textContent),
    tr.querySelector(${JSON.stringify(value('6'))}) ? Number(tr.querySelector(${JSON.stringify(value('6'))}).dataset.value) : null])`)
    assert.deepEqual(
      shown,
      summary.series.map((s: any) => [s.name, s.last.value, s.last.step, s.best?.value ?? null]),
    )
    const table = await tab.eval<string[][]>(
      `[...document.querySelectorAll('#evaluations tr')].map((tr) => [...tr.children].map((c) => c.querySelector('[data-value]')?.dataset.value ?? c.textContent))`,
    )
    assert.deepEqual(table, [
      ['step', 'R@1', HOSTILE_METRIC],
      ...Object.entries(evals).map(([step, m]) => [step, ...Object.values(m).map(String)]),
    ])
    const checkpoints = await tab.eval<string[][]>(
      `[...document.querySelectorAll('#checkpoints tbody tr')].map((tr) => [...tr.children].slice(0, 4).map((c) => c.textContent))`,
    )
    assert.deepEqual(checkpoints, [
      ['step-00000010', '10', '1', '15'],
      ['step-00000020', '20', '2', '30'],
    ])
    assert.equal(await tab.eval(`document.getElementById('config').textContent`), CONFIG)
    assert.equal(
      await tab.eval(`document.querySelectorAll('#curves svg polyline').length > 0`),
      true,
      'the curves, drawn inline',
    )
    assert.equal(await tab.eval(`document.querySelectorAll('img, main b').length`), 0)
    const shownFacts = await facts(tab)
    assert.deepEqual(
      [
        shownFacts.metrics,
        shownFacts['train steps'],
        shownFacts.steps,
        shownFacts.epoch,
        shownFacts['clips/s'],
        shownFacts.evaluations,
        shownFacts['lines skipped'],
      ],
      [
        summary.metrics,
        String(summary.trainSteps),
        `${summary.firstStep}..${summary.lastStep}`,
        String(summary.epoch),
        String(summary.clipsPerS),
        String(summary.evaluations),
        String(summary.skipped.length),
      ],
    )
    assert.deepEqual(await lowContrast(tab), [], "text contrast >= 4.5:1, the curves' labels included")
    console.log(`screenshot: ${await tab.screenshot('training.png')}`)
    assert.deepEqual([tab.errors, tab.dialogs], [[], []])

    // A page in a folder that does not exist is refused before any work, in one line.
    const nowhere = path.join(dir, 'nope', 'run.html')
    const refused = vipant(['report', run, '--html', nowhere, '-o', path.join(dir, 'c2.svg')])
    assert.deepEqual(
      [refused.status, refused.stderr.toString()],
      [
        2,
        `vipant report: ${nowhere}: directory ${path.dirname(nowhere)} does not exist (vipant does not create it; mkdir -p it first)\n`,
      ],
    )
  },
)
