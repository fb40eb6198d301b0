import type {Schema} from './apache-arrow.js'
import {UserError} from '../util/errors.js'

/**
 * What made a table: each stage that touched it appends one record to the schema metadata key
 * `vipant.stages` (JSON array), so a later stage can check the parameters of its input (docs/arrow.md).
 */
export interface StageRecord {
  command: string
  version: string
  /** Columns this stage added or replaced. */
  columns: string[]
  params: Record<string, unknown>
}

export const STAGES_KEY = 'vipant.stages'

export function readStages(schema: Schema): StageRecord[] {
  const raw = schema.metadata.get(STAGES_KEY)
  return raw === undefined ? [] : (JSON.parse(raw) as StageRecord[])
}

export function withStage(metadata: Map<string, string>, record: StageRecord): Map<string, string> {
  const stages = metadata.has(STAGES_KEY) ? (JSON.parse(metadata.get(STAGES_KEY)!) as StageRecord[]) : []
  return new Map([...metadata, [STAGES_KEY, JSON.stringify([...stages, record])]])
}

/** The latest stage that produced `column`, or undefined when the column came from elsewhere. */
export function stageOf(schema: Schema, column: string): StageRecord | undefined {
  return readStages(schema)
    .reverse()
    .find((s) => s.columns.includes(column))
}

/**
 * Refuses input whose `column` was made with other parameters than the ones this stage needs,
 * e.g. a model trained on normalised log-mels fed unnormalised ones.
 */
export function requireParams(schema: Schema, source: string, column: string, expected: Record<string, unknown>): void {
  const stage = stageOf(schema, column)
  if (stage === undefined) return
  for (const [key, want] of Object.entries(expected)) {
    const got = stage.params[key]
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      throw new UserError(
        `${source}: column ${column} was made by 'vipant ${stage.command}' with ${key}=${JSON.stringify(got)}, this needs ${JSON.stringify(want)}`,
      )
    }
  }
}
