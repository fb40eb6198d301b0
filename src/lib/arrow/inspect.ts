import type {Field, RecordBatch, Vector} from './apache-arrow.js'
import type {TableInput} from './input.js'
import {readStages, type StageRecord} from './provenance.js'
import {tensorRow} from './tensor.js'

export interface ColumnSummary {
  name: string
  type: string
  shape?: number[]
  nulls: number
  /** Numbers and tensors: range and mean over every value. */
  min?: number
  max?: number
  mean?: number
  /** Strings: distinct values (counted up to a cap) and the most frequent ones. */
  distinct?: number
  top?: [string, number][]
}

export interface TableSummary {
  source: string
  rows: number
  batches: number
  columns: ColumnSummary[]
  stages: StageRecord[]
}

const DISTINCT_CAP = 10000

/** One streaming pass over a table: row count, per-column nulls and value statistics, provenance. */
export async function summarize(input: TableInput): Promise<TableSummary> {
  const stats = input.schema.fields.map((f) => new ColumnStats(f))
  let rows = 0
  let batches = 0
  for await (const batch of input.batches) {
    batches++
    rows += batch.numRows
    stats.forEach((s) => s.add(batch))
  }
  return {source: input.source, rows, batches, columns: stats.map((s) => s.summary()), stages: readStages(input.schema)}
}

class ColumnStats {
  private nulls = 0
  private min = Infinity
  private max = -Infinity
  private sum = 0
  private count = 0
  private readonly counts = new Map<string, number>()

  constructor(private readonly field: Field) {}

  add(batch: RecordBatch) {
    const column = batch.getChild(this.field.name) as Vector
    this.nulls += column.nullCount
    const tensor = this.field.metadata.has('shape')
    for (let i = 0; i < column.length; i++) {
      const value = tensor ? tensorRow(column, i) : column.get(i)
      if (value === null || value === undefined) continue
      if (value instanceof Float32Array) for (const x of value) this.number(x)
      else if (typeof value === 'number' || typeof value === 'bigint') this.number(Number(value))
      else if (typeof value === 'string') this.string(value)
      else if (typeof value === 'boolean') this.string(String(value))
      else this.string(`${(value as Vector).length} items`) // lists: their lengths are what tells
    }
  }

  private number(x: number) {
    this.min = Math.min(this.min, x)
    this.max = Math.max(this.max, x)
    this.sum += x
    this.count++
  }

  private string(s: string) {
    if (this.counts.has(s) || this.counts.size < DISTINCT_CAP) this.counts.set(s, (this.counts.get(s) ?? 0) + 1)
  }

  summary(): ColumnSummary {
    const shape = this.field.metadata.get('shape')
    const base: ColumnSummary = {name: this.field.name, type: String(this.field.type), nulls: this.nulls}
    if (shape) base.shape = JSON.parse(shape) as number[]
    if (this.count > 0) Object.assign(base, {min: this.min, max: this.max, mean: this.sum / this.count})
    if (this.counts.size > 0) {
      base.distinct = this.counts.size
      base.top = [...this.counts].sort((a, b) => b[1] - a[1]).slice(0, 3)
    }
    return base
  }
}
