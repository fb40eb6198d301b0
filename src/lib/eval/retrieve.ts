import type {RecordBatch} from '../arrow/apache-arrow.js'
import {columnData, int32, utf8} from '../arrow/columns.js'
import type {TableInput} from '../arrow/input.js'
import {stageOf} from '../arrow/provenance.js'
import {sourceBatch, sourceSchema} from '../arrow/stage.js'
import {forEachEmbedded} from './embedded-rows.js'
import type {Embedder} from '../towers/embedder.js'
import {UserError} from '../util/errors.js'
import {requireFinite} from '../util/finite.js'
import {evaluatedModels} from './report.js'
import type {ClipSearch, RetrievalReport} from './retrieval-report.js'
import {rankOf} from './classification.js'
import {CAPTIONS_PER_CLIP, checkFiveCaptions, retrievalMetrics, similarity} from './retrieval.js'
import type {Listing} from './zeroshot-input.js'

/** The caption prompt of docs/method.md §2.5, "the sound of": every caption becomes `prompt + " " + caption`. */
export const DEFAULT_CAPTION_PROMPT = 'the sound of'

/** A caption as the text tower sees it: the prompt, one space, the caption; an empty prompt adds nothing. */
export function captionText(prompt: string, caption: string): string {
  return prompt === '' ? caption : `${prompt} ${caption}`
}

/** One clip of a table carrying `audio_emb` (and, for evaluation, `captions`). */
export interface RetrievalClip {
  id: string
  path: string | null
  captions: string[]
  audio: Float32Array
}

/** The rows with an audio embedding, held in memory; rows whose embedding is null (failed to decode) are counted. */
export async function collectRetrievalClips(input: TableInput): Promise<{clips: RetrievalClip[]; failed: number}> {
  const clips: RetrievalClip[] = []
  const {failed} = await forEachEmbedded(input, 'vipant mel | vipant embed makes one', (batch, i, audio) => {
    const captions = batch.getChild('captions')?.get(i) as Iterable<string | null> | null | undefined
    clips.push({
      id: String(batch.getChild('id')?.get(i) ?? clips.length),
      path: (batch.getChild('path')?.get(i) as string | null | undefined) ?? null,
      captions: captions ? [...captions].filter((c): c is string => c !== null) : [],
      audio,
    })
  })
  return {clips, failed}
}

/** Text embeddings in chunks, so that worker threads share them and no forward pass holds thousands of captions. */
export async function embedTexts(embedder: Embedder, texts: readonly string[], chunk = 32): Promise<Float32Array[]> {
  const parts = []
  for (let s = 0; s < texts.length; s += chunk)
    parts.push(
      embedder.embed(
        'text',
        texts.slice(s, s + chunk).map((t) => [t]),
      ),
    )
  return (await Promise.all(parts)).flat().map((e, q) => {
    if (e === null) throw new UserError(`the text tower gave no embedding for ${JSON.stringify(texts[q])}`)
    requireFinite(e, () => `the text tower's text_emb for ${JSON.stringify(texts[q])}`)
    return e
  })
}

export interface RetrievalSetup {
  scored: TableInput
  listing: Listing | null
  dataset: string
  split: string | null
  prompt: string
  maxLen: number | null
  embedder: Embedder
  backend: string
  version: string
}

/** One query's rank (1-based, like the report's median rank and --query's hits) in --predictions: a clip's best caption (A->T) or a caption's clip (T->A). */
export interface RankRow {
  direction: 'audio_to_text' | 'text_to_audio'
  query: number
  id: string
  text: string | null
  rank: number
}

/**
 * docs/method.md §8.2 end to end on embedded clips: prompted captions, cosine similarities, both directions, and the report;
 * the clips and sim[clip][caption] too, for the --html page's per-query results.
 */
export async function evaluateRetrieval(
  setup: RetrievalSetup,
): Promise<{report: RetrievalReport; ranks: RankRow[]; clips: RetrievalClip[]; sim: Float64Array[]}> {
  const {scored, listing, embedder} = setup
  const {clips, failed} = await collectRetrievalClips(scored)
  if (clips.length === 0)
    throw new UserError(
      `${scored.source}: no clip to evaluate${listing ? ` (${listing.listed} listed, ${listing.missing} not on disk)` : ''}`,
    )
  checkFiveCaptions(
    clips.map((c) => ({id: c.id, captions: c.captions.length})),
    scored.source,
  )
  const captions = clips.flatMap((c) => c.captions)
  const texts = captions.map((c) => captionText(setup.prompt, c))
  const sim = similarity(
    clips.map((c) => c.audio),
    await embedTexts(embedder, texts),
  )
  const metrics = retrievalMetrics(sim)

  const ranks: RankRow[] = clips.map((c, i) => ({
    direction: 'audio_to_text',
    query: i,
    id: c.id,
    text: null,
    rank: 1 + Math.min(...Array.from({length: CAPTIONS_PER_CLIP}, (_, k) => rankOf(sim[i], CAPTIONS_PER_CLIP * i + k))),
  }))
  for (let q = 0; q < texts.length; q++) {
    const clip = Math.floor(q / CAPTIONS_PER_CLIP)
    ranks.push({
      direction: 'text_to_audio',
      query: q,
      id: clips[clip].id,
      text: texts[q],
      rank:
        1 +
        rankOf(
          Float64Array.from(sim, (row) => row[q]),
          clip,
        ),
    })
  }

  const report: RetrievalReport = {
    task: 'retrieve',
    vipant: setup.version,
    protocol: {
      dataset: setup.dataset,
      source: scored.source,
      split: setup.split,
      prompt: setup.prompt,
      captions_per_clip: CAPTIONS_PER_CLIP,
      scoring: 'cosine',
      max_len: setup.maxLen ?? (stageOf(scored.schema, 'mel')?.params.max_len as number | undefined) ?? null,
      ties: 'lower index first',
      median: 'lower middle',
    },
    model: await evaluatedModels(scored, embedder.sources),
    backend: setup.backend,
    clips: {listed: listing?.listed ?? null, evaluated: clips.length, missing: listing?.missing ?? null, failed},
    captions: captions.length,
    audio_to_text: metrics.audioToText,
    text_to_audio: metrics.textToAudio,
  }
  return {report, ranks, clips, sim}
}

/** The table of --predictions: direction, query index, clip id, caption text (T->A), 1-based rank. */
export function ranksTable(rows: readonly RankRow[], params: Record<string, unknown>, version: string): TableInput {
  const fields = [utf8('direction'), int32('query'), utf8('id'), utf8('text'), int32('rank')]
  const schema = sourceSchema(fields, {command: 'retrieve', version, params})
  const columns = (['direction', 'query', 'id', 'text', 'rank'] as const).map((name, j) =>
    columnData(
      fields[j],
      rows.map((r) => r[name]),
    ),
  )
  async function* batches(): AsyncIterable<RecordBatch> {
    yield sourceBatch(schema, columns)
  }
  return {source: 'predictions', schema, batches: batches()}
}

/** Free search: each query's k best clips by cosine similarity (ties: the earlier row first). */
export async function searchClips(
  input: TableInput,
  queries: readonly string[],
  k: number,
  embedder: Embedder,
): Promise<ClipSearch> {
  const {clips, failed} = await collectRetrievalClips(input)
  const sim = similarity(
    await embedTexts(embedder, queries),
    clips.map((c) => c.audio),
  )
  const results = queries.map((query, q) => {
    const order = clips.map((_, i) => i).sort((a, b) => sim[q][b] - sim[q][a] || a - b)
    return {
      query,
      results: order.slice(0, k).map((i, r) => ({rank: r + 1, id: clips[i].id, path: clips[i].path, score: sim[q][i]})),
    }
  })
  return {results, clips: clips.length, failed, k}
}
