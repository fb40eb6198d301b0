import {createReadStream} from 'node:fs'
import {open, stat, type FileHandle} from 'node:fs/promises'
import {Readable} from 'node:stream'
import {RecordBatchReader, type RecordBatch, type Schema} from './apache-arrow.js'
import {isSpecialFile} from '../util/atomic-write.js'
import {UserError} from '../util/errors.js'
import {openSpooled} from './spool.js'

export interface TableInput {
  /** What to call the input in messages: the path, or "stdin". */
  source: string
  schema: Schema
  batches: AsyncIterable<RecordBatch>
}

/** Arrow IPC file magic: a file is its stream framed by this and a footer. */
export const MAGIC = Buffer.from('ARROW1')

/** The end-of-stream marker: a continuation marker and a zero length. A stream without it was cut short. */
export const EOS = Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])

/** What a table that ends early is told: the command that wrote it most likely died (a crash, a kill, a full disk). */
export function cutShort(source: string, what: string, rows?: number): UserError {
  const after = rows === undefined ? '' : ` after ${rows} row${rows === 1 ? '' : 's'}`
  return new UserError(
    `${source}: the Arrow ${what} was cut short${after} (no ${what === 'file' ? 'footer' : 'end-of-stream marker'}): the command that wrote it failed?`,
  )
}

export const NO_INPUT = 'no input: name an Arrow file, or pipe one in (e.g. vipant fetch esc50 DIR | vipant mel)'

/**
 * Opens an Arrow IPC file or stream from a path, from "-" (stdin), or from stdin when no path is
 * given and stdin is not a terminal. Batches are read one at a time as they arrive, so memory stays
 * bounded by the batch size however long the table is.
 */
export async function openTableInput(
  path: string | undefined,
  stdin: NodeJS.ReadStream = process.stdin,
): Promise<TableInput> {
  if (path === undefined || path === '-') {
    if (path === undefined && stdin.isTTY) {
      throw new UserError(NO_INPUT)
    }
    return fromStream(stdin, 'stdin')
  }
  const info = await stat(path).catch(() => {
    throw new UserError(`${path}: no such file`)
  })
  if (info.isDirectory()) throw new UserError(`${path}: is a directory, not an Arrow file`)
  if (!info.isFile()) return fromStream(createReadStream(path), path) // a FIFO or a device: read as it comes
  if (info.size === 0) throw new UserError(`${path}: empty file, expected an Arrow table`)
  const handle = await open(path, 'r')
  try {
    await checkEnd(handle, info.size, path)
    const reader = await RecordBatchReader.from(handle)
    await reader.open()
    return {source: path, schema: reader.schema, batches: readAll(reader, path, {done: () => handle.close()})}
  } catch (error) {
    await handle.close()
    throw notArrow(path, error)
  }
}

/**
 * apache-arrow's readers stop quietly where the bytes stop, so a table whose writer died looks whole: a file must
 * end with its footer's magic, a stream with its end-of-stream marker.
 */
async function checkEnd(handle: FileHandle, size: number, source: string): Promise<void> {
  const read = async (position: number, length: number) => {
    const bytes = Buffer.alloc(Math.max(0, Math.min(length, size - position)))
    await handle.read(bytes, 0, bytes.length, position)
    return bytes
  }
  const head = await read(0, 6)
  if (head.equals(MAGIC)) {
    if (size < 12 || !(await read(size - 6, 6)).equals(MAGIC)) throw cutShort(source, 'file')
  } else if (size >= 4 && head.readUInt32LE(0) === 0xffffffff && !(await read(size - 8, 8)).equals(EOS)) {
    throw cutShort(source, 'stream')
  }
}

async function fromStream(stream: NodeJS.ReadableStream, source: string): Promise<TableInput> {
  const chunks = (stream as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
  const first = await chunks.next()
  if (first.done) throw new UserError(`${source}: empty input, expected an Arrow table`)
  // The stream's last 8 bytes, and whether it ended: a stream that ends without its marker was cut short.
  const end = {tail: Buffer.alloc(0), ended: false}
  const all = async function* () {
    for (let next: IteratorResult<Uint8Array> = first; !next.done; next = await chunks.next()) {
      end.tail = Buffer.concat([end.tail, next.value]).subarray(-8)
      yield next.value
    }
    end.ended = true
  }
  const head = Buffer.from(first.value.subarray(0, 6))
  if (head.equals(MAGIC)) return spillFile(all(), source)
  // A stream starts with a message's continuation marker (streams older than Arrow 0.15 are not read: see docs).
  if (head.length >= 4 && head.readUInt32LE(0) !== 0xffffffff) {
    throw new UserError(
      `${source}: not an Arrow IPC file or stream (it starts with ${JSON.stringify(head.subarray(0, 4).toString('latin1'))})`,
    )
  }
  const cut = () => end.ended && !end.tail.equals(EOS)
  try {
    const reader = await RecordBatchReader.from(all())
    await reader.open()
    return {source, schema: reader.schema, batches: readAll(reader, source, {cut})}
  } catch (error) {
    throw cut() ? cutShort(source, 'stream', 0) : notArrow(source, error)
  }
}

/**
 * An IPC *file* needs random access (apache-arrow's own files carry their schema only in the footer),
 * so one arriving through a pipe is spooled to a temporary file first: memory stays bounded.
 */
async function spillFile(chunks: AsyncIterable<Uint8Array>, source: string): Promise<TableInput> {
  return openSpooled(Readable.from(chunks), async (file) => ({...(await openTableInput(file)), source}))
}

async function* readAll(
  reader: AsyncIterable<RecordBatch> | Iterable<RecordBatch>,
  source: string,
  {done, cut}: {done?: () => Promise<void>; cut?: () => boolean},
): AsyncIterable<RecordBatch> {
  let rows = 0
  try {
    for await (const batch of reader) {
      yield batch
      rows += batch.numRows
    }
  } catch (error) {
    throw cut?.() ? cutShort(source, 'stream', rows) : notArrow(source, error)
  } finally {
    await done?.()
  }
  if (cut?.()) throw cutShort(source, 'stream', rows)
}

export function notArrow(source: string, error: unknown): Error {
  if (error instanceof UserError) return error
  const why = error instanceof Error ? error.message.split('\n')[0] : String(error)
  return new UserError(`${source}: not a readable Arrow IPC file or stream (${why})`)
}

/**
 * Whether a path holds an Arrow IPC file or stream (by its first bytes, whatever its name). A pipe or a device
 * (`<(cat t.arrow)`, a named FIFO, /dev/stdin when piped) counts as one: its first bytes cannot be looked at
 * without taking them from the reader, and tables are what travels through pipes between vipant commands.
 */
export async function isArrowPath(path: string): Promise<boolean> {
  if (isSpecialFile(path)) return true
  const handle = await open(path, 'r').catch(() => null)
  if (!handle) return false
  try {
    const head = Buffer.alloc(8)
    const {bytesRead} = await handle.read(head, 0, 8, 0).catch(() => ({bytesRead: 0})) // a directory
    return (
      (bytesRead >= 6 && head.subarray(0, 6).equals(MAGIC)) || (bytesRead >= 4 && head.readUInt32LE(0) === 0xffffffff)
    )
  } finally {
    await handle.close()
  }
}
