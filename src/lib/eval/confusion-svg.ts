import {UserError} from '../util/errors.js'
import {escapeXml} from '../util/xml.js'
import type {ZeroShotReport} from './report.js'

/**
 * The confusion matrix of a zero-shot report as a self-contained SVG (no fonts, scripts or links to
 * fetch): true classes down the left, predicted classes across the top, each cell holding its clip
 * count and shaded by the row-normalised value, so that a class with few clips reads as clearly as
 * one with many. The title states the dataset, the pooled accuracy and the clip count.
 */
const CELL = 28
const CHAR = 6.5 // rough width of one 11px sans-serif character, for the label margins
const PAD = 12

export function confusionSvg(report: ZeroShotReport): string {
  const {classes, matrix} = report.confusion
  if (matrix === null || report.accuracy === null)
    throw new UserError('--plot: no clip has a label, so there is no confusion matrix to draw')
  const n = classes.length
  const labelWidth = Math.ceil(Math.max(4, ...classes.map((c) => c.length)) * CHAR) + PAD
  const left = labelWidth + 20 // room for the "true" axis title
  const top = 40 + labelWidth // the title, the "predicted" axis title, and the rotated column labels
  const width = left + n * CELL + PAD
  const height = top + n * CELL + PAD
  const title = `${report.protocol.dataset}: accuracy ${(100 * report.accuracy).toFixed(2)}% (${report.clips.evaluated - report.clips.unlabelled} clips)`

  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${left + (n * CELL) / 2}" y="34" text-anchor="middle">predicted</text>`,
    `<text transform="translate(12 ${top + (n * CELL) / 2}) rotate(-90)" text-anchor="middle">true</text>`,
  ]
  classes.forEach((name, j) => {
    const x = left + j * CELL + CELL / 2 + 4
    parts.push(`<text class="col" transform="translate(${x} ${top - 4}) rotate(-90)">${escapeXml(name)}</text>`)
  })
  matrix.forEach((row, i) => {
    const y = top + i * CELL
    const total = row.reduce((a, b) => a + b, 0)
    parts.push(
      `<text class="row" x="${left - 4}" y="${y + CELL / 2 + 4}" text-anchor="end">${escapeXml(classes[i])}</text>`,
    )
    row.forEach((count, j) => {
      const value = total === 0 ? 0 : count / total
      const x = left + j * CELL
      parts.push(
        `<g class="cell" data-row="${i}" data-col="${j}"><rect x="${x}" y="${y}" width="${CELL}" height="${CELL}" fill="${shade(value)}" stroke="#dddddd"/>` +
          `<text x="${x + CELL / 2}" y="${y + CELL / 2 + 4}" text-anchor="middle" fill="${value > 0.5 ? '#ffffff' : '#000000'}">${count}</text></g>`,
      )
    })
  })
  parts.push('</svg>')
  return `${parts.join('\n')}\n`
}

/** White at 0 to a dark blue at 1. */
function shade(value: number): string {
  const mix = (from: number, to: number) =>
    Math.round(from + (to - from) * value)
      .toString(16)
      .padStart(2, '0')
  return `#${mix(0xff, 0x08)}${mix(0xff, 0x30)}${mix(0xff, 0x6b)}`
}
