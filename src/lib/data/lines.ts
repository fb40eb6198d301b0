import {createReadStream, closeSync, openSync, readSync} from 'node:fs'
import {createInterface} from 'node:readline'

export interface Line {
  /** 1-based, for error messages. */
  line: number
  text: string
}

const BOM = /^\uFEFF/

/** Streams a text file line by line (LF or CRLF), so multi-million-line metadata never sits in memory whole. */
export async function* readLines(file: string): AsyncGenerator<Line> {
  const input = createReadStream(file, {encoding: 'utf8'})
  const reader = createInterface({input, crlfDelay: Infinity})
  let line = 0
  try {
    for await (const text of reader) {
      line++
      yield {line, text: line === 1 ? text.replace(BOM, '') : text}
    }
  } finally {
    reader.close()
    input.destroy()
  }
}

/** The first line of a file, read without streaming the rest: enough to recognise its format. */
export function firstLine(file: string): string {
  const buffer = Buffer.alloc(4096)
  const fd = openSync(file, 'r')
  try {
    const length = readSync(fd, buffer, 0, buffer.length, 0)
    return buffer.toString('utf8', 0, length).replace(BOM, '').split(/\r?\n/, 1)[0]
  } finally {
    closeSync(fd)
  }
}
