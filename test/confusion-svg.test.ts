import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {confusionSvg} from '../src/lib/eval/confusion-svg.js'
import {checkPlotPath, writePlot} from '../src/lib/eval/plot-file.js'
import type {ZeroShotReport} from '../src/lib/eval/report.js'
import {UserError} from '../src/lib/util/errors.js'
import {parseXml} from './xml.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-plot-'))

/** Just the parts of a report that the plot reads. */
function report(classes: string[], matrix: number[][]): ZeroShotReport {
  const clips = matrix.flat().reduce((a, b) => a + b, 0)
  const correct = matrix.reduce((s, row, i) => s + row[i], 0)
  return {
    protocol: {dataset: 'esc50 & <friends>'},
    accuracy: correct / clips,
    clips: {evaluated: clips, unlabelled: 0},
    confusion: {classes, matrix},
  } as unknown as ZeroShotReport
}

test('confusion SVG: well-formed, one cell per pair with its count, names on both axes, a title with the accuracy', () => {
  const classes = ['dog', 'rain', 'chirping_birds']
  const matrix = [
    [3, 1, 0],
    [0, 0, 2],
    [5, 0, 7],
  ]
  const svg = confusionSvg(report(classes, matrix))
  const elements = parseXml(svg)
  assert.equal(elements[0].name, 'svg')
  assert.equal(elements[0].attrs.xmlns, 'http://www.w3.org/2000/svg')
  // 10 of 18 clips correct.
  assert.equal(
    elements.find((e) => e.name === 'title')?.text,
    'esc50 &amp; &lt;friends&gt;: accuracy 55.56% (18 clips)',
  )
  const cells = elements.filter((e) => e.attrs.class === 'cell')
  assert.equal(cells.length, 9)
  for (const cell of cells) {
    const [i, j] = [Number(cell.attrs['data-row']), Number(cell.attrs['data-col'])]
    const index = elements.indexOf(cell)
    assert.equal(elements[index + 2].text, String(matrix[i][j]))
  }
  assert.deepEqual(
    elements.filter((e) => e.attrs.class === 'row').map((e) => e.text),
    classes,
  )
  assert.deepEqual(
    elements.filter((e) => e.attrs.class === 'col').map((e) => e.text),
    classes,
  )
  // Row-normalised shading: the empty cell of a row is white, a row's only count is full colour.
  const fill = (i: number, j: number) => elements[elements.indexOf(cells[3 * i + j]) + 1].attrs.fill
  assert.equal(fill(0, 2), '#ffffff')
  assert.equal(fill(1, 2), '#08306b')
})

test('--plot paths: .svg written whole; .png rasterised when a rasteriser is present; anything else refused', async () => {
  const svg = confusionSvg(
    report(
      ['a', 'b'],
      [
        [1, 0],
        [1, 1],
      ],
    ),
  )
  const file = path.join(dir, 'c.svg')
  await writePlot(file, svg)
  assert.equal(readFileSync(file, 'utf8'), svg)
  await assert.rejects(
    checkPlotPath(path.join(dir, 'c.pdf')),
    (e: Error) => e instanceof UserError && e.message === `${path.join(dir, 'c.pdf')}: --plot writes .svg or .png`,
  )
  const png = path.join(dir, 'c.png')
  const hasRasteriser = await checkPlotPath(png).then(
    () => true,
    () => false,
  )
  if (hasRasteriser) {
    await writePlot(png, svg)
    assert.deepEqual([...readFileSync(png).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  }
  const path0 = process.env.PATH
  process.env.PATH = dir // no rasteriser here
  try {
    await assert.rejects(
      checkPlotPath(png),
      (e: Error) => e instanceof UserError && /rsvg-convert or ImageMagick's convert.*use \.svg$/.test(e.message),
    )
  } finally {
    process.env.PATH = path0
  }
})
