import {UserError} from '../util/errors.js'
import {clipPath, presentFrames} from './download-layout.js'
import {firstLine, readLines} from './lines.js'
import {fileStatus} from './paths.js'

/**
 * One line of VIP-ANT's `src_*.csv` index (docs/method.md §2.2): JSON lines despite the extension, pointing into the
 * download layout.
 */
export interface SrcRecord {
  line: number
  id: string
  dir: string
  aclip: string[]
  frame: string[]
  start: number
  end: number
  labels: string[] | null
  captions: string[] | null
}

/** Whether a metadata file is JSON lines (VIP-ANT's index) rather than CSV: its first character is a `{`. */
export function isJsonLines(file: string): boolean {
  return firstLine(file).trimStart().startsWith('{')
}

export async function* readSrcIndex(file: string): AsyncGenerator<SrcRecord> {
  for await (const {line, text} of readLines(file)) {
    if (text.trim() === '') continue
    const fail = (problem: string): never => {
      throw new UserError(`${file}:${line}: malformed index line (${problem})`)
    }
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (error) {
      fail((error as Error).message)
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('not a JSON object')
    const record = value as Record<string, unknown>
    const string = (key: string): string => {
      const field = record[key]
      return typeof field === 'string' ? field : fail(`"${key}" is not a string`)
    }
    const strings = (key: string): string[] => {
      const field = record[key]
      const ok = Array.isArray(field) && field.every((item) => typeof item === 'string')
      return ok ? (field as string[]) : fail(`"${key}" is not a list of strings`)
    }
    const seconds = (key: string): number => {
      const field = record[key]
      const value = typeof field === 'number' ? field : Number(string(key))
      return Number.isFinite(value) ? value : fail(`"${key}" is not a number of seconds`)
    }
    const aclip = strings('aclip')
    if (aclip.length === 0) fail('"aclip" is empty')
    yield {
      line,
      id: string('id'),
      dir: string('dir'),
      aclip,
      frame: 'frame' in record ? strings('frame') : [],
      start: seconds('bos'),
      end: seconds('eos'),
      labels: 'labels' in record ? strings('labels') : null,
      captions: 'captions' in record ? strings('captions') : null,
    }
  }
}

/** Where a record's clip and frames are under ROOT; the loader uses the first audio suffix (docs/method.md §2.2). */
export function locateSrcRecord(root: string, record: SrcRecord) {
  const path = clipPath(root, record.dir, record.id, record.aclip[0])
  return {path, status: fileStatus(path), frames: presentFrames(root, record.dir, record.id, record.frame)}
}
