import type {RetrievalReport} from '../eval/retrieval-report.js'
import type {DirectionMetrics} from '../eval/retrieval.js'
import type {RankRow, RetrievalClip} from '../eval/retrieve.js'
import type {ClipMedia} from './clip-media.js'
import {facts, fixed, shown, staticTable, type Page} from './page.js'
import {clipsBlock, descending, modelBlock} from './report-parts.js'

/** Results listed per query: enough to see where the right item fell when it is near the top. */
export const TOP_K = 10

/**
 * The retrieval page: both directions' metrics, then every query with its top results, the worst-ranked
 * queries first. sim[i][q] is clip i against caption q (clip i owns captions 5i..5i+4), as the evaluation scored them.
 */
export async function retrievalPage(
  report: RetrievalReport,
  ranks: readonly RankRow[],
  clips: readonly RetrievalClip[],
  sim: readonly Float64Array[],
  media: ClipMedia,
): Promise<Page> {
  const pageClips = []
  for (const c of clips) pageClips.push({id: c.id, captions: c.captions, src: await media.src(c.path)})
  const per = report.protocol.captions_per_clip
  const top = (scores: ArrayLike<number>) =>
    descending(scores)
      .slice(0, TOP_K)
      .map((j) => [j, scores[j]])
  const worstFirst = (a: {rank: number; q: number}, b: {rank: number; q: number}) => b.rank - a.rank || a.q - b.q
  const a2t = ranks
    .filter((r) => r.direction === 'audio_to_text')
    .map((r) => ({q: r.query, rank: r.rank, top: top(sim[r.query])}))
    .sort(worstFirst)
  const t2a = ranks
    .filter((r) => r.direction === 'text_to_audio')
    .map((r) => ({q: r.query, rank: r.rank, top: top(Float64Array.from(sim, (row) => row[r.query]))}))
    .sort(worstFirst)

  const {protocol: pr} = report
  const f2 = fixed(2)
  const row = (name: string, m: DirectionMetrics) => [
    name,
    String(m.queries),
    shown(m.r1, f2),
    shown(m.r5, f2),
    shown(m.r10, f2),
    shown(m.r50, f2),
    shown(m.median_rank, f2),
    shown(m.mean_rank, f2),
    shown(m.map10, (x) => f2(100 * x)),
  ]
  const body = [
    '<h2>Protocol and model</h2>',
    facts([
      ['dataset', pr.dataset],
      ['source', pr.source],
      ['split', pr.split],
      ['prompt', JSON.stringify(pr.prompt)],
      ['captions per clip', pr.captions_per_clip],
      ['scoring', pr.scoring],
      ['max_len', pr.max_len],
      ['ties', pr.ties],
      ['median', pr.median],
      ['backend', report.backend],
      ['vipant', report.vipant],
    ]),
    modelBlock(report.model),
    clipsBlock({...report.clips, captions: report.captions}),
    '<h2>Metrics</h2>',
    `<div id="metrics">${staticTable(
      'R@k and mAP@10 in %, ranks 1-based',
      ['direction', 'queries', 'R@1', 'R@5', 'R@10', 'R@50', 'median rank', 'mean rank', 'mAP@10'],
      [row('audio\u2192text', report.audio_to_text), row('text\u2192audio', report.text_to_audio)],
      [false, true, true, true, true, true, true, true, true],
    )}</div>`,
    `<h2>Audio \u2192 text (${a2t.length} clips)</h2><p class="hint">Each clip's top ${TOP_K} captions, worst-ranked clips first; its own captions are marked.</p><div id="a2t"></div>`,
    `<h2>Text \u2192 audio (${t2a.length} captions)</h2><p class="hint">Each caption's top ${TOP_K} clips, worst-ranked captions first; its clip is marked.</p><div id="t2a"></div>`,
  ].join('\n')
  return {
    title: `vipant retrieve: ${pr.dataset}${pr.split ? ` ${pr.split}` : ''}`,
    body,
    data: {per, clips: pageClips, a2t, t2a},
    script: SCRIPT,
  }
}

const SCRIPT = String.raw`
const {per, clips, a2t, t2a} = DATA;
const caption = (q) => clips[Math.floor(q / per)].captions[q % per];
const mark = (correct) => (correct ? h('span', {class: 'ok'}, 'match') : null);
pager(document.getElementById('a2t'), a2t, (r) => {
  const clip = clips[r.q];
  return h('li', {'data-query': r.q},
    h('div', {class: 'head'}, h('span', {class: 'id'}, clip.id), h('span', {}, 'rank ', h('b', {class: 'rank'}, String(r.rank)))),
    player(clip.src, clip.id),
    h('ol', {class: 'top'}, r.top.map(([q, s]) => {
      const correct = Math.floor(q / per) === r.q;
      return h('li', {class: correct ? 'correct' : null, 'data-item': q}, mark(correct), ' ', num(s, score(s)), ' ', caption(q));
    })));
}, 'audio to text queries');
pager(document.getElementById('t2a'), t2a, (r) => {
  const own = Math.floor(r.q / per);
  return h('li', {'data-query': r.q},
    h('div', {class: 'head'}, h('span', {class: 'query'}, caption(r.q)), h('span', {}, 'rank ', h('b', {class: 'rank'}, String(r.rank)))),
    h('ol', {class: 'top'}, r.top.map(([i, s]) => {
      const correct = i === own;
      return h('li', {class: correct ? 'correct' : null, 'data-item': i}, mark(correct), ' ', num(s, score(s)), ' ', h('span', {class: 'id'}, clips[i].id), player(clips[i].src, clips[i].id, true));
    })));
}, 'text to audio queries');
`
