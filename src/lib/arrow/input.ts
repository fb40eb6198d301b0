import {open, stat} from 'node:fs/promises'
import {Readable} from 'node:stream'
import {RecordBatchReader, type RecordBatch, type Schema} from 'apache-arrow'
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

export const NO_INPUT = 'no input: name an Arrow file, or pipe one in (e.g. vipant fetch esc50 DIR | vipant mel)'

/**
 * Opens an Arrow IPC file or stream from a path, from "-" (stdin), or from stdin when no path is
 * given and stdin is not a terminal. Batches are read one at a time as they arrive, so memory stays
 * bounded by the batch size however long the table is.
 */
export async function openTableInput(path: string | undefined, stdin: NodeJS.ReadStream = process.stdin): Promise<TableInput> {
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
  const handle = await open(path, 'r')
  try {
    const reader = await RecordBatchReader.from(handle)
    await reader.open()
    return {source: path, schema: reader.schema, batches: readAll(reader, path, () => handle.close())}
  } catch (error) {
    await handle.close()
    throw notArrow(path, error)
  }
}

async function fromStream(stream: NodeJS.ReadableStream, source: string): Promise<TableInput> {
  const chunks = (stream as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
  const first = await chunks.next()
  if (first.done) throw new UserError(`${source}: empty input, expected an Arrow table`)
  const all = async function* () {
    yield first.value
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value
  }
  if (Buffer.from(first.value.subarray(0, 6)).equals(MAGIC)) return spillFile(all(), source)
  try {
    const reader = await RecordBatchReader.from(all())
    await reader.open()
    return {source, schema: reader.schema, batches: readAll(reader, source)}
  } catch (error) {
    throw notArrow(source, error)
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
  done?: () => Promise<void>,
): AsyncIterable<RecordBatch> {
  try {
    for await (const batch of reader) yield batch
  } catch (error) {
    throw notArrow(source, error)
  } finally {
    await done?.()
  }
}

export function notArrow(source: string, error: unknown): Error {
  if (error instanceof UserError) return error
  const why = error instanceof Error ? error.message.split('\n')[0] : String(error)
  return new UserError(`${source}: not a readable Arrow IPC file or stream (${why})`)
}

/** Whether a path holds an Arrow IPC file or stream (by its first bytes, whatever its name). */
export async function isArrowPath(path: string): Promise<boolean> {
  const handle = await open(path, 'r').catch(() => null)
  if (!handle) return false
  try {
    const head = Buffer.alloc(8)
    const {bytesRead} = await handle.read(head, 0, 8, 0).catch(() => ({bytesRead: 0})) // a directory
    return (bytesRead >= 6 && head.subarray(0, 6).equals(MAGIC)) || (bytesRead >= 4 && head.readUInt32LE(0) === 0xffffffff)
  } finally {
    await handle.close()
  }
}
