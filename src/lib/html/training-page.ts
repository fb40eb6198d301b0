import {readdir, readFile} from 'node:fs/promises'
import path from 'node:path'
import {snapshotsDir, listSnapshots} from '../train/run-snapshot.js'
import type {MetricsLog, RunSummary} from '../train/metrics-log.js'
import {esc, facts, shown, staticTable, type Page} from './page.js'

const exact = (x: number) => String(Number(x.toPrecision(6)))

/**
 * A training run on one page: the curves (the SVG `vipant report` draws, inline), each metric's last and best,
 * the in-training evaluations step by step, the checkpoints kept, and the resolved config the run wrote.
 */
export async function trainingPage(run: string, log: MetricsLog, summary: RunSummary, curves: string): Promise<Page> {
  const dir = path.dirname(log.file)
  const config = await readFile(path.join(dir, 'train.yaml'), 'utf8').catch(() => null)
  const evals = log.series.filter((s) => s.kind === 'eval')
  const steps = [...new Set(evals.flatMap((s) => s.points.map((p) => p.step)))].sort((a, b) => a - b)
  const value = (name: string, step: number) =>
    evals.find((s) => s.name === name)!.points.find((p) => p.step === step)?.value ?? null
  const checkpoints = []
  for (const name of await listSnapshots(dir)) {
    const state = await readFile(path.join(snapshotsDir(dir), name, 'state.json'), 'utf8').then(
      (t) => JSON.parse(t) as Record<string, unknown>,
      () => null,
    )
    const files = await readdir(path.join(snapshotsDir(dir), name))
    checkpoints.push([
      esc(name),
      state ? String(state.step) : '-',
      state ? String(state.epoch) : '-',
      state ? exact(Number(state.time)) : '-',
      esc(files.sort().join(', ')),
    ])
  }
  const body = [
    facts([
      ['metrics', log.file],
      ['train steps', summary.trainSteps],
      ['steps', summary.firstStep === null ? null : `${summary.firstStep}..${summary.lastStep}`],
      ['epoch', summary.epoch],
      ['clips/s', summary.clipsPerS === null ? null : exact(summary.clipsPerS)],
      ['evaluations', summary.evaluations],
      ['lines skipped', summary.skipped.length],
    ]),
    '<h2>Curves</h2>',
    `<figure id="curves">${curves}</figure>`,
    `<div id="summary">${staticTable(
      'Last and best of each series',
      ['series', 'kind', 'points', 'last', 'at step', 'best', 'at step'],
      summary.series.map((s) => [
        esc(s.name),
        s.kind,
        String(s.points),
        shown(s.last.value, exact),
        String(s.last.step),
        s.best ? `${shown(s.best.value, exact)} (${s.better})` : '-',
        s.best ? String(s.best.step) : '-',
      ]),
      [false, false, true, true, true, true, true],
    )}</div>`,
    '<h2>Evaluations during training</h2>',
    steps.length === 0
      ? '<p>No evaluation was logged.</p>'
      : `<div id="evaluations">${staticTable(
          'One row per evaluation',
          ['step', ...evals.map((s) => esc(s.name))],
          steps.map((step) => [String(step), ...evals.map((s) => shown(value(s.name, step), exact))]),
          [true, ...evals.map(() => true)],
        )}</div>`,
    '<h2>Checkpoints</h2>',
    checkpoints.length === 0
      ? '<p>No checkpoint in this run directory.</p>'
      : `<div id="checkpoints">${staticTable(`In ${esc(snapshotsDir(dir))}`, ['checkpoint', 'step', 'epoch', 'seconds trained', 'files'], checkpoints, [false, true, true, true, false])}</div>`,
    '<h2>Resolved config (train.yaml)</h2>',
    config === null ? '<p>No train.yaml in this run directory.</p>' : `<pre id="config">${esc(config)}</pre>`,
  ].join('\n')
  return {title: `vipant report: ${run}`, body, data: {}, script: ''}
}
