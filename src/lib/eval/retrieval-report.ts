import type {ModelDigest} from '../checkpoint/digest.js'
import {clipsCoverage, digestLine, table} from './report.js'
import type {DirectionMetrics} from './retrieval.js'
import {plural} from '../util/plural.js'

/** A retrieval report (docs/method.md §8.2): the numbers of both directions with everything needed to reproduce them. */
export interface RetrievalReport {
  task: 'retrieve'
  vipant: string
  protocol: {
    dataset: string
    source: string
    split: string | null
    /** Prefix of every caption (`prompt + " " + caption`, docs/method.md §2.5); "" for none. */
    prompt: string
    captions_per_clip: number
    /** Audio and text embeddings both L2-normalised, the dot product as similarity. */
    scoring: 'cosine'
    max_len: number | null
    ties: 'lower index first'
    /** For an even number of queries: the lower of the two middle ranks, as torch.median in the original. */
    median: 'lower middle'
  }
  model: {audio: ModelDigest | null; text: ModelDigest}
  backend: string
  clips: {listed: number | null; evaluated: number; missing: number | null; failed: number}
  captions: number
  audio_to_text: DirectionMetrics
  text_to_audio: DirectionMetrics
}

/** One query of free search and its best clips. */
export interface SearchResult {
  query: string
  results: {rank: number; id: string; path: string | null; score: number}[]
}

/** A --query search: each query's best clips, and the clips searched (rows without an embedding are counted, not searched). */
export interface ClipSearch {
  results: SearchResult[]
  clips: number
  failed: number
  /** Clips shown per query (fewer when the table has fewer). */
  k: number
}

/** Audio->text search: one audio file and the captions closest to it. */
export interface CaptionSearchResult {
  audio: string
  results: {rank: number; id: string; caption: string; score: number}[]
}

export function retrievalCoverageLine(report: RetrievalReport): string {
  return `${clipsCoverage(report.clips).join('; ')}, ${plural(report.captions, 'caption')}`
}

export function searchCoverageLine(search: ClipSearch): string {
  const queries = search.results.length
  const failed = search.failed ? `; ${search.failed} failed to decode` : ''
  return `searched ${plural(search.clips, 'clip')}${failed}, ${plural(queries, 'query', 'queries')}, top ${search.k} each`
}

export function renderRetrievalJson(value: RetrievalReport | SearchResult[] | CaptionSearchResult): string {
  return `${JSON.stringify(value, null, 2)}\n`
}

export function renderRetrievalText(report: RetrievalReport): string {
  const {protocol: p} = report
  const f2 = (x: number) => x.toFixed(2)
  const row = (name: string, m: DirectionMetrics) => [
    name,
    String(m.queries),
    f2(m.r1),
    f2(m.r5),
    f2(m.r10),
    f2(m.r50),
    f2(m.median_rank),
    f2(m.mean_rank),
    f2(100 * m.map10),
  ]
  const lines = [
    `retrieval ${p.dataset}${p.split ? ` ${p.split}` : ''} (${p.source})`,
    `  ${retrievalCoverageLine(report)}`,
    `  prompt: ${JSON.stringify(p.prompt)} (each caption: prompt + " " + caption)`,
    `  scoring: cosine (both sides L2-normalised), best of ${p.captions_per_clip} captions for audio->text, max_len ${p.max_len ?? '?'}`,
    `  audio: ${digestLine(report.model.audio)}`,
    `  text:  ${digestLine(report.model.text)}`,
    `  ${report.backend}`,
    '',
    ...table(
      ['direction', 'queries', 'R@1', 'R@5', 'R@10', 'R@50', 'medR', 'meanR', 'mAP@10'],
      [row('audio->text', report.audio_to_text), row('text->audio', report.text_to_audio)],
    ),
    '',
    'R@k and mAP@10 in %; ranks are 1-based; medR of an even count is the lower middle rank (torch.median, as the original)',
  ]
  return `${lines.join('\n')}\n`
}

export function renderSearchText(results: readonly SearchResult[]): string {
  const lines: string[] = []
  for (const {query, results: top} of results) {
    if (lines.length > 0) lines.push('')
    lines.push(`query: ${JSON.stringify(query)}`)
    lines.push(
      ...table(
        ['rank', 'score', 'id', 'path'],
        top.map((r) => [String(r.rank), r.score.toFixed(4), r.id, r.path ?? '']),
      ),
    )
  }
  return `${lines.join('\n')}\n`
}

export function renderCaptionSearchText(result: CaptionSearchResult): string {
  const rows = result.results.map((r) => [String(r.rank), r.score.toFixed(4), r.id, r.caption])
  return `${[`audio: ${result.audio}`, ...table(['rank', 'score', 'id', 'caption'], rows)].join('\n')}\n`
}
