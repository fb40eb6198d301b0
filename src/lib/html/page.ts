import {writeFile} from 'node:fs/promises'
import {atomicWrite} from '../util/atomic-write.js'
import {escapeXml} from '../util/xml.js'
import {RUNTIME} from './runtime.js'
import {STYLE} from './style.js'

/**
 * One self-contained page: the style, the data and the script inline, nothing fetched, so that it opens
 * from disk, from a zip, or from a mail attachment. User data (clip ids, captions, class names) reaches the
 * page either escaped into the static HTML or as JSON that the script puts into the DOM as text, never as markup.
 */
export interface Page {
  title: string
  /** Static HTML, every user string in it passed through `esc`. */
  body: string
  /** Read by the page's script as `DATA`. */
  data: unknown
  /** The page kind's script, run after the shared runtime. */
  script: string
}

export const esc = escapeXml

export function renderPage(page: Page): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // Nothing may come from the network: only inline style and script, media from the page's folder.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; media-src file: 'self' data:; img-src data:">`,
    `<title>${esc(page.title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    '<main>',
    `<h1>${esc(page.title)}</h1>`,
    page.body,
    '</main>',
    `<script type="application/json" id="vipant-data">${jsonForScript(page.data)}</script>`,
    `<script>${RUNTIME}\n${page.script}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n')
}

/** JSON that cannot close its <script> element: every "<" becomes \u003c, which JSON.parse reads back as "<". */
export function jsonForScript(data: unknown): string {
  return JSON.stringify(data).replace(/</g, '\\u003c')
}

export async function writePage(file: string, page: Page): Promise<void> {
  await atomicWrite(file, (temp) => writeFile(temp, renderPage(page)))
}

/** A table of static cells, already escaped by the caller; `numeric` columns align right. */
export function staticTable(caption: string, header: string[], rows: string[][], numeric: boolean[] = []): string {
  const th = header.map((h, j) => `<th scope="col"${numeric[j] ? ' class="num"' : ''}>${h}</th>`).join('')
  const tr = rows
    .map((r) => `<tr>${r.map((c, j) => `<td${numeric[j] ? ' class="num"' : ''}>${c}</td>`).join('')}</tr>`)
    .join('\n')
  return `<table><caption>${caption}</caption><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table>`
}

/** A number shown on the page with its exact value kept in data-value, so what is read can be checked against the report. */
export function shown(value: number | null, text: (x: number) => string): string {
  return value === null ? '<span data-value="null">-</span>' : `<span data-value="${value}">${text(value)}</span>`
}

export const pct = (x: number) => `${(100 * x).toFixed(2)}%`
export const fixed = (digits: number) => (x: number) => x.toFixed(digits)

/** A definition list of key/value pairs, values escaped here. */
export function facts(entries: [string, string | number | null][]): string {
  const rows = entries.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v === null ? '-' : esc(String(v))}</dd>`).join('')
  return `<dl class="facts">${rows}</dl>`
}
