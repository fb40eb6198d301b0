import os from 'node:os'
import type {TableInput} from '../arrow/input.js'
import type {MelConfig} from '../audio/mel-config.js'
import {melStage, melStageSchema, type ClipEvent, type MelStageOptions} from '../data/mel-stage.js'
import {checkEmbedInput, embedStage, embedStageSchema, type EmbedOptions} from './embed-stage.js'
import type {Embedder} from '../towers/embedder.js'

/**
 * An index table through the mel stage and the audio tower in one process, as `vipant mel | vipant
 * embed` would do across a pipe: the table that comes out carries `mel` and `audio_emb`.
 */
export function audioEmbeddings(
  index: TableInput,
  options: {
    embedder: Embedder
    config: MelConfig
    normalize: boolean
    batchSize: number
    window: number
    version: string
    onClip?: (event: ClipEvent) => void
  },
): TableInput {
  const melOptions: MelStageOptions = {
    config: options.config,
    workers: os.availableParallelism(),
    strict: false,
    batchSize: 16,
    frames: 0,
    onClip: (e) => e.status !== 'missing' && options.onClip?.(e),
  }
  const melSchema = melStageSchema(index.schema, melOptions, options.version)
  const mel: TableInput = {source: index.source, schema: melSchema, batches: melStage(index, melSchema, melOptions)}
  const embed: EmbedOptions = {
    embedder: options.embedder,
    run: ['audio'],
    normalize: options.normalize,
    batchSize: options.batchSize,
    window: options.window,
  }
  checkEmbedInput(mel, embed.run)
  const schema = embedStageSchema(mel, embed, options.version)
  return {source: index.source, schema, batches: embedStage(mel, schema, embed)}
}
