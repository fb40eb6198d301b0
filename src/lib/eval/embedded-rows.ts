import type {RecordBatch} from '../arrow/apache-arrow.js'
import type {TableInput} from '../arrow/input.js'
import {tensorRow} from '../arrow/tensor.js'
import {UserError} from '../util/errors.js'
import {requireFinite, rowName} from '../util/finite.js'

/**
 * Visits every row of an evaluation table that has an audio embedding (a copy, safe to keep); rows whose
 * embedding is null (clips that failed to decode) are counted, not visited; one holding NaN or ±Infinity
 * (an edited table) refuses the table rather than scoring it.
 */
export async function forEachEmbedded(
  input: TableInput,
  hint: string,
  visit: (batch: RecordBatch, i: number, audio: Float32Array) => void,
): Promise<{failed: number}> {
  if (!input.schema.fields.some((f) => f.name === 'audio_emb'))
    throw new UserError(`${input.source}: no audio_emb column (${hint}, or give --data)`)
  let failed = 0
  let row = 0
  for await (const batch of input.batches) {
    const emb = batch.getChild('audio_emb')!
    for (let i = 0; i < batch.numRows; i++, row++) {
      const audio = tensorRow(emb, i)
      if (audio === null) failed++
      else {
        requireFinite(audio, () => `${rowName(input.source, row, batch.getChild('id')?.get(i))}: audio_emb`)
        visit(batch, i, audio.slice())
      }
    }
  }
  return {failed}
}
