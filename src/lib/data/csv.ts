import {UserError} from '../util/errors.js'
import {readLines} from './lines.js'

export interface CsvRecord {
  /** Line on which the record starts (a quoted field may span lines). */
  line: number
  fields: string[]
}

export interface CsvOptions {
  /** Ignore spaces after a comma, as in AudioSet's official `a, b, "c,d"` files. */
  skipInitialSpace?: boolean
  /** Lines starting with this are comments. */
  comment?: string
}

const OPEN_QUOTE = 'unterminated quoted field'
const AFTER_QUOTE = 'text after a closing quote'

/** RFC 4180 fields of one record; a string is the problem when the text is not a complete record. */
function parseRecord(text: string, skipInitialSpace: boolean): string[] | string {
  const fields: string[] = []
  let i = 0
  for (;;) {
    if (skipInitialSpace) while (text[i] === ' ') i++
    if (text[i] !== '"') {
      const comma = text.indexOf(',', i)
      if (comma < 0) {
        fields.push(text.slice(i))
        return fields
      }
      fields.push(text.slice(i, comma))
      i = comma + 1
      continue
    }
    let value = ''
    i++
    for (;;) {
      const quote = text.indexOf('"', i)
      if (quote < 0) return OPEN_QUOTE
      value += text.slice(i, quote)
      i = quote + 1
      if (text[i] !== '"') break
      value += '"'
      i++
    }
    fields.push(value)
    if (i === text.length) return fields
    if (text[i] !== ',') return AFTER_QUOTE
    i++
  }
}

/** Streams the records of a CSV file; blank lines are skipped. */
export async function* readCsvRecords(file: string, options: CsvOptions = {}): AsyncGenerator<CsvRecord> {
  let pending: {line: number; text: string} | undefined
  for await (const {line, text} of readLines(file)) {
    if (pending) pending.text += '\n' + text
    else if (text.trim() === '' || (options.comment !== undefined && text.startsWith(options.comment))) continue
    else pending = {line, text}
    const fields = parseRecord(pending.text, options.skipInitialSpace ?? false)
    if (fields === OPEN_QUOTE) continue // a quoted field with a newline: the record goes on
    if (typeof fields === 'string') throw new UserError(`${file}:${pending.line}: malformed CSV line (${fields})`)
    yield {line: pending.line, fields}
    pending = undefined
  }
  if (pending) throw new UserError(`${file}:${pending.line}: malformed CSV line (${OPEN_QUOTE})`)
}

/** A record read through its columns, with typed getters that report the file and line of a bad value. */
export class CsvRow {
  constructor(
    readonly file: string,
    readonly line: number,
    private readonly columns: ReadonlyMap<string, number>,
    private readonly fields: string[],
  ) {}

  text(column: string): string {
    const index = this.columns.get(column)
    if (index === undefined) throw new Error(`no CSV column ${column}`)
    return this.fields[index]
  }

  number(column: string): number {
    const text = this.text(column).trim()
    const value = Number(text)
    if (text === '' || !Number.isFinite(value)) this.fail(`${column} is not a number: "${text}"`)
    return value
  }

  integer(column: string): number {
    const value = this.number(column)
    if (!Number.isInteger(value)) this.fail(`${column} is not an integer: "${this.text(column)}"`)
    return value
  }

  fail(problem: string): never {
    throw new UserError(`${this.file}:${this.line}: ${problem}`)
  }
}

/** The column layout of one file: turns records into rows, rejecting records with the wrong field count. */
export class CsvColumns {
  private readonly index: ReadonlyMap<string, number>

  constructor(
    readonly file: string,
    readonly names: readonly string[],
  ) {
    this.index = new Map(names.map((name, i) => [name.trim(), i]))
  }

  row({line, fields}: CsvRecord): CsvRow {
    if (fields.length !== this.names.length) {
      throw new UserError(
        `${this.file}:${line}: malformed CSV line (expected ${this.names.length} fields, found ${fields.length})`,
      )
    }
    return new CsvRow(this.file, line, this.index, fields)
  }
}

/** Streams the rows of a CSV file with a header line, which must name every `required` column. */
export async function* readCsvRows(file: string, required: readonly string[]): AsyncGenerator<CsvRow> {
  let columns: CsvColumns | undefined
  for await (const record of readCsvRecords(file)) {
    if (columns) {
      yield columns.row(record)
      continue
    }
    columns = new CsvColumns(file, record.fields)
    const missing = required.filter((name) => !record.fields.some((field) => field.trim() === name))
    if (missing.length > 0) {
      throw new UserError(`${file}: header lacks column ${missing.join(', ')} (expected ${required.join(',')})`)
    }
  }
  if (!columns) throw new UserError(`${file}: empty, expected a header line with ${required.join(',')}`)
}
