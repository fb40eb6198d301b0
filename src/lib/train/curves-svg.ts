import {escapeXml} from '../util/xml.js'
import type {Series} from './metrics-log.js'

/**
 * A run's curves as one self-contained SVG of small multiples: one panel per series (train fields, then
 * evaluation metrics), all on the same step axis so that a loss plateau lines up with the metric it
 * explains; each panel's value axis fits its own series. Evaluations are sparse, so their points are marked.
 */
const PANEL = {width: 320, height: 200}
const MARGIN = {left: 58, right: 14, top: 26, bottom: 30}
const COLUMNS = 3
const TICKS = 4
const TRAIN_COLOUR = '#1f5fa8'
const EVAL_COLOUR = '#c0392b'

export function curvesSvg(title: string, series: readonly Series[]): string {
  const columns = Math.max(1, Math.min(COLUMNS, series.length))
  const rows = Math.max(1, Math.ceil(series.length / COLUMNS))
  const width = columns * PANEL.width
  const height = 34 + rows * PANEL.height
  const steps = series.flatMap((s) => s.points.map((p) => p.step))
  const stepRange: [number, number] = steps.length > 0 ? [Math.min(...steps), Math.max(...steps)] : [0, 1]

  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="10">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
  ]
  if (series.length === 0)
    parts.push(`<text x="${width / 2}" y="${height / 2 + 17}" text-anchor="middle">no metrics logged yet</text>`)
  series.forEach((s, i) =>
    parts.push(panel(s, (i % COLUMNS) * PANEL.width, 34 + Math.floor(i / COLUMNS) * PANEL.height, stepRange)),
  )
  parts.push('</svg>')
  return `${parts.join('\n')}\n`
}

function panel(series: Series, x0: number, y0: number, stepRange: [number, number]): string {
  const plot = {
    left: x0 + MARGIN.left,
    top: y0 + MARGIN.top,
    width: PANEL.width - MARGIN.left - MARGIN.right,
    height: PANEL.height - MARGIN.top - MARGIN.bottom,
  }
  const values = series.points.map((p) => p.value)
  const xTicks = niceTicks(stepRange[0], stepRange[1])
  const yTicks = niceTicks(Math.min(...values), Math.max(...values))
  const x = scale(stepRange, [plot.left, plot.left + plot.width])
  const y = scale([yTicks[0], yTicks[yTicks.length - 1]], [plot.top + plot.height, plot.top])
  const colour = series.kind === 'eval' ? EVAL_COLOUR : TRAIN_COLOUR
  const coords = series.points.map((p) => `${x(p.step).toFixed(2)},${y(p.value).toFixed(2)}`)

  const parts = [
    `<g class="panel" data-series="${escapeXml(series.name)}">`,
    `<text x="${plot.left + plot.width / 2}" y="${y0 + 16}" text-anchor="middle" font-size="12" font-weight="bold">${escapeXml(series.name)}${series.kind === 'eval' ? ' (eval)' : ''}</text>`,
    `<rect x="${plot.left}" y="${plot.top}" width="${plot.width}" height="${plot.height}" fill="none" stroke="#999999"/>`,
  ]
  for (const t of yTicks) {
    const ty = y(t).toFixed(2)
    parts.push(`<line x1="${plot.left}" x2="${plot.left + plot.width}" y1="${ty}" y2="${ty}" stroke="#eeeeee"/>`)
    parts.push(`<text x="${plot.left - 4}" y="${ty}" dy="3" text-anchor="end">${formatTick(t)}</text>`)
  }
  for (const t of xTicks.filter((t) => t >= stepRange[0] && t <= stepRange[1])) {
    parts.push(
      `<text x="${x(t).toFixed(2)}" y="${plot.top + plot.height + 13}" text-anchor="middle">${formatTick(t)}</text>`,
    )
  }
  parts.push(
    `<text x="${plot.left + plot.width / 2}" y="${plot.top + plot.height + 26}" text-anchor="middle" fill="#555555">step</text>`,
  )
  parts.push(
    `<polyline class="curve" data-series="${escapeXml(series.name)}" data-kind="${series.kind}" points="${coords.join(' ')}" fill="none" stroke="${colour}" stroke-width="1.5"/>`,
  )
  if (series.kind === 'eval' || series.points.length === 1) {
    for (const c of coords) {
      const [cx, cy] = c.split(',')
      parts.push(`<circle cx="${cx}" cy="${cy}" r="2.5" fill="${colour}"/>`)
    }
  }
  parts.push('</g>')
  return parts.join('\n')
}

/** A linear map from a domain onto a pixel range; a one-value domain maps to the middle. */
function scale([d0, d1]: [number, number], [r0, r1]: [number, number]): (v: number) => number {
  return d1 === d0 ? () => (r0 + r1) / 2 : (v) => r0 + ((v - d0) / (d1 - d0)) * (r1 - r0)
}

/** Round tick values (1, 2 or 5 times a power of ten) whose first and last enclose [lo, hi]. */
export function niceTicks(lo: number, hi: number): number[] {
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1
    return niceTicks(lo - pad, hi + pad)
  }
  const rough = (hi - lo) / TICKS
  const power = 10 ** Math.floor(Math.log10(rough))
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough)!
  // The slack keeps a bound that is a tick up to rounding (1e-4 + 1e-5) from adding one more.
  const first = Math.floor(lo / step + 1e-9)
  const last = Math.ceil(hi / step - 1e-9)
  // Multiplying integers by the step (rather than adding it up) keeps the labels free of drift.
  return Array.from({length: last - first + 1}, (_, i) => Number(((first + i) * step).toPrecision(12)))
}

function formatTick(v: number): string {
  if (v === 0) return '0'
  const abs = Math.abs(v)
  if (abs < 1e-3 || abs >= 1e6) return v.toExponential(1).replace('.0e', 'e').replace('e+', 'e')
  return String(Number(v.toPrecision(4)))
}
