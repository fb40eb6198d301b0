import type {CaptionSearchResult, ClipSearch} from '../eval/retrieval-report.js'
import type {ClipMedia} from './clip-media.js'
import {facts, type Page} from './page.js'

/** --query: each query with its best clips, each playable. */
export async function clipSearchPage(search: ClipSearch, source: string, media: ClipMedia): Promise<Page> {
  const queries = []
  for (const {query, results} of search.results) {
    const hits = []
    for (const r of results) hits.push({...r, src: await media.src(r.path)})
    queries.push({query, hits})
  }
  const body = [
    facts([
      ['searched', source],
      ['clips', search.clips],
      ['failed to decode', search.failed],
      ['top', search.k],
      ['scoring', 'cosine'],
    ]),
    '<div id="queries"></div>',
  ].join('\n')
  return {
    title: `vipant retrieve: ${search.results.length} quer${search.results.length === 1 ? 'y' : 'ies'}`,
    body,
    data: {queries},
    script: CLIP_SCRIPT,
  }
}

const CLIP_SCRIPT = String.raw`
const host = document.getElementById('queries');
for (const {query, hits} of DATA.queries) {
  const list = h('div', {});
  host.append(h('section', {class: 'query'}, h('h2', {}, query), list));
  pager(list, hits, (r) => h('li', {'data-id': r.id},
    h('div', {class: 'head'}, h('span', {}, '#' + r.rank), h('span', {class: 'id'}, r.id), num(r.score, score(r.score)), r.path === null ? null : h('span', {class: 'hint'}, r.path)),
    player(r.src, r.id)), 'clips found for this query');
}
`

/** --audio: the query sound, playable, and the captions found for it. */
export async function captionSearchPage(result: CaptionSearchResult, source: string, media: ClipMedia): Promise<Page> {
  const body = [
    facts([
      ['searched', source],
      ['query audio', result.audio],
      ['top', result.results.length],
      ['scoring', 'cosine'],
    ]),
    '<div id="query-audio"></div>',
    '<h2>Captions</h2><div id="captions"></div>',
  ].join('\n')
  return {
    title: `vipant retrieve: captions for ${result.audio}`,
    body,
    data: {audio: await media.src(result.audio), name: result.audio, results: result.results},
    script: CAPTION_SCRIPT,
  }
}

const CAPTION_SCRIPT = String.raw`
document.getElementById('query-audio').append(player(DATA.audio, DATA.name));
pager(document.getElementById('captions'), DATA.results, (r) => h('li', {'data-id': r.id},
  h('div', {class: 'head'}, h('span', {}, '#' + r.rank), num(r.score, score(r.score)), h('span', {class: 'id'}, r.id)),
  h('p', {class: 'caption'}, r.caption)), 'captions found');
`
