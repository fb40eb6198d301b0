import type {TableInput} from '../arrow/input.js'
import {tensorRow} from '../arrow/tensor.js'
import {melClip} from '../data/mel-clip.js'
import {checkMaxLen, type MelConfig} from '../audio/mel-config.js'
import type {Embedder} from '../towers/embedder.js'
import {UserError} from '../util/errors.js'
import {requireFinite, rowName} from '../util/finite.js'
import type {CaptionSearchResult} from './retrieval-report.js'
import {similarity} from './retrieval.js'
import {embedTexts} from './retrieve.js'

/** Every caption of a table, with its clip's id and, where the table carries text_emb, its embedding. */
interface Caption {
  id: string
  text: string
  embedding: Float32Array | null
}

/**
 * The captions of a table in row order. A text_emb column (vipant embed on a table with captions:
 * one vector per caption, end to end) is used as it is, so the text tower runs only for tables without it.
 */
async function readCaptions(input: TableInput): Promise<Caption[]> {
  if (!input.schema.fields.some((f) => f.name === 'captions'))
    throw new UserError(`${input.source}: no captions column to search (vipant fetch clotho|audiocaps makes one)`)
  const captions: Caption[] = []
  let index = 0
  for await (const batch of input.batches) {
    const column = batch.getChild('captions')!
    const emb = batch.getChild('text_emb')
    for (let i = 0; i < batch.numRows; i++, index++) {
      const texts = [...((column.get(i) as Iterable<string | null> | null) ?? [])].filter(
        (c): c is string => c !== null,
      )
      const row = emb ? tensorRow(emb, i) : null
      if (row) requireFinite(row, () => `${rowName(input.source, index, batch.getChild('id')?.get(i))}: text_emb`)
      const dim = row && texts.length > 0 ? row.length / texts.length : 0
      const id = String(batch.getChild('id')?.get(i) ?? i)
      texts.forEach((text, k) => captions.push({id, text, embedding: row ? row.slice(k * dim, (k + 1) * dim) : null}))
    }
  }
  if (captions.length === 0) throw new UserError(`${input.source}: no captions to search`)
  return captions
}

/**
 * Audio->text search: FILE decoded, turned into a log-mel and embedded by the audio tower, then the k
 * captions with the highest cosine similarity (ties: the earlier caption first). Captions are scored as
 * written, without the evaluation prompt, like the text_emb vipant embed stores for them.
 */
export async function searchCaptions(
  input: TableInput,
  file: string,
  k: number,
  embedder: Embedder,
  config: MelConfig,
): Promise<CaptionSearchResult> {
  checkMaxLen(config.maxLen)
  const captions = await readCaptions(input)
  const {mel} = await melClip({key: file, path: file, config, frames: 0, frameFiles: null})
  const [audio] = await embedder.embed('audio', [[mel]])
  if (!audio) throw new UserError(`${file}: the audio tower gave no embedding`)
  requireFinite(audio, () => `${file}: the audio tower's audio_emb`)
  const missing = captions.filter((c) => c.embedding === null)
  const embedded =
    missing.length > 0
      ? await embedTexts(
          embedder,
          missing.map((c) => c.text),
        )
      : []
  missing.forEach((c, q) => (c.embedding = embedded[q]))
  const [scores] = similarity(
    [audio],
    captions.map((c) => c.embedding!),
  )
  const order = captions.map((_, q) => q).sort((a, b) => scores[b] - scores[a] || a - b)
  return {
    audio: file,
    results: order
      .slice(0, k)
      .map((q, r) => ({rank: r + 1, id: captions[q].id, caption: captions[q].text, score: scores[q]})),
  }
}
