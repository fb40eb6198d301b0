/**
 * Random access to the rows of an Arrow IPC file or stream on disk, for tables larger than memory. Opening
 * reads only the message headers (one pass that seeks past every body) into an index of record batches. A
 * tensor row is then read from its own bytes in the file, through a small LRU cache bounded in bytes: a
 * shuffled pass over a huge table reads each row once, not the whole batch around it (vipant mel writes 16 rows
 * a batch) for every row. An input that cannot seek (stdin, a pipe, a FIFO) is spooled to a temporary file first.
 */
import {closeSync, createReadStream, fstatSync, openSync, readSync} from 'node:fs'
import {stat} from 'node:fs/promises'
import {
  Footer,
  Message,
  MessageHeader,
  RecordBatchReader,
  Type,
  type DataType,
  type FileBlock,
  type FixedSizeList,
  type RecordBatch,
  type Schema,
} from './apache-arrow.js'
import {UserError} from '../util/errors.js'
import {cutShort, EOS, MAGIC, NO_INPUT, notArrow} from './input.js'
import {openSpooled} from './spool.js'
import {float32Values, isTensorField, tensorDtype} from './tensor.js'

export interface RowReaderOptions {
  /** Bytes of rows kept in memory (256 MB unless given). */
  cacheBytes?: number
  stdin?: NodeJS.ReadableStream & {isTTY?: boolean}
}

/** A byte range of the file. */
interface Extent {
  offset: number
  length: number
}

interface BatchEntry {
  /** Index of the batch's first row in the table. */
  start: number
  rows: number
  /** The whole message (length prefix, flatbuffer metadata, body), its metadata, and where its body begins. */
  message: Extent
  meta: Extent
  body: number
  /** Dictionary messages in force for this batch, in order. */
  dictionaries: readonly Extent[]
}

/** Where one batch keeps a tensor column: its validity bits (null: no nulls), its list offsets, its values. */
interface TensorLayout {
  valid: Uint8Array | null
  offsets: Int32Array | null
  values: number
  size: number
  /** Values stored as float16. */
  half: boolean
}

/** The flatbuffer header of a record batch message (apache-arrow's metadata class, not its exported RecordBatch). */
interface BatchHeader {
  length: number
  nodes: {length: number; nullCount: number}[]
  buffers: Extent[]
  compression: unknown
}

const closeOnCollect = new FinalizationRegistry<number>((fd) => closeSync(fd))

export class RowReader {
  private readonly cache = new ByteLru()
  private readonly starts: Float64Array
  private readBytes = 0

  private constructor(
    readonly source: string,
    private readonly fd: number,
    readonly schema: Schema,
    private readonly schemaBytes: Uint8Array,
    private readonly batches: readonly BatchEntry[],
    cacheBytes: number,
  ) {
    this.cache.budget = cacheBytes
    this.starts = Float64Array.from(batches, (b) => b.start)
    closeOnCollect.register(this, fd, this)
  }

  /** Opens a path, or stdin for "-" (or no path when stdin is not a terminal); a non-regular file is spooled. */
  static async open(
    path: string | undefined,
    {cacheBytes = 256 * 2 ** 20, stdin = process.stdin}: RowReaderOptions = {},
  ): Promise<RowReader> {
    let source = path ?? 'stdin'
    let fd: number
    if (path === undefined || path === '-') {
      if (path === undefined && stdin.isTTY) throw new UserError(NO_INPUT)
      source = 'stdin'
      fd = await openSpooled(stdin, async (file) => openSync(file, 'r'))
    } else {
      const info = await stat(path).catch(() => {
        throw new UserError(`${path}: no such file`)
      })
      if (info.isDirectory()) throw new UserError(`${path}: is a directory, not an Arrow file`)
      fd = info.isFile()
        ? openSync(path, 'r')
        : await openSpooled(createReadStream(path), async (file) => openSync(file, 'r'))
    }
    try {
      const {schema, schemaBytes, batches} = indexMessages(fd, source)
      return new RowReader(source, fd, schema, schemaBytes, batches, cacheBytes)
    } catch (error) {
      closeSync(fd)
      throw notArrow(source, error)
    }
  }

  get numRows(): number {
    const last = this.batches.at(-1)
    return last ? last.start + last.rows : 0
  }

  /** Bytes of rows and layouts held in the cache now (never above its budget). */
  get cachedBytes(): number {
    return this.cache.bytes
  }

  /** Bytes read from the file since opening, the index pass included. */
  get bytesRead(): number {
    return this.readBytes
  }

  /**
   * Row i of a tensor column (FixedSizeList or List of float32), bit for bit as stored, or null; a float16 column's
   * widened to float32 (exactly). The array is the cache's: read it, do not write it.
   */
  row(column: string, i: number): Float32Array | null {
    if (!(Number.isInteger(i) && i >= 0 && i < this.numRows))
      throw new RangeError(`${this.source}: row ${i} of ${this.numRows}`)
    const key = `row:${column}:${i}`
    const hit = this.cache.get(key)
    if (hit !== undefined) return hit as Float32Array | null
    const b = this.batchOf(i)
    const local = i - this.batches[b].start
    const layout = this.layout(b, column)
    let row: Float32Array | null = null
    if (!layout.valid || layout.valid[local >> 3] & (1 << (local & 7))) {
      const [from, to] = layout.offsets
        ? [layout.offsets[local], layout.offsets[local + 1]]
        : [local * layout.size, (local + 1) * layout.size]
      const stored = layout.half ? new Uint16Array(to - from) : new Float32Array(to - from)
      this.read(new Uint8Array(stored.buffer), layout.values + from * stored.BYTES_PER_ELEMENT)
      row = float32Values(stored)
    }
    this.cache.put(key, row, row?.byteLength ?? 0)
    return row
  }

  /**
   * Every record batch in order, decoded by apache-arrow and not cached. The values of the tensor columns named
   * in `skipValues` are not read (they decode as zeros): their validity and lengths are real, which is what a
   * pass that only decides which rows are usable needs from them.
   */
  *scan(skipValues: readonly string[] = []): Generator<{start: number; batch: RecordBatch}> {
    for (const entry of this.batches) {
      // A stream of one batch: the schema, the dictionaries in force, the batch's message, the end marker.
      const head = [this.schemaBytes, ...entry.dictionaries.map((d) => this.readAt(d))]
      let at = 0
      // A fresh allocation: its pages that are never read into stay unbacked by memory.
      const buffer = new Uint8Array(head.reduce((n, h) => n + h.length, 0) + entry.message.length + EOS.length)
      for (const h of head) {
        buffer.set(h, at)
        at += h.length
      }
      const bodyAt = at + entry.body - entry.message.offset
      this.read(buffer.subarray(at, bodyAt), entry.message.offset)
      const header = batchHeader(buffer.subarray(bodyAt - entry.meta.length, bodyAt))
      for (const range of bodyRanges(
        header,
        skipValues.map((c) => this.tensorValues(c, header)),
        entry.message.offset + entry.message.length - entry.body,
      )) {
        this.read(
          buffer.subarray(bodyAt + range.offset, bodyAt + range.offset + range.length),
          entry.body + range.offset,
        )
      }
      buffer.set(EOS, buffer.length - EOS.length)
      const [batch] = RecordBatchReader.from(buffer).readAll()
      yield {start: entry.start, batch}
    }
  }

  close(): void {
    closeOnCollect.unregister(this)
    closeSync(this.fd)
  }

  private batchOf(i: number): number {
    let lo = 0
    let hi = this.starts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (this.starts[mid] <= i) lo = mid
      else hi = mid - 1
    }
    return lo
  }

  private layout(b: number, column: string): TensorLayout {
    const key = `layout:${b}:${column}`
    const hit = this.cache.get(key) as TensorLayout | undefined
    if (hit) return hit
    const entry = this.batches[b]
    const header = batchHeader(this.readAt(entry.meta))
    if (header.compression)
      throw new UserError(
        `${this.source}: compressed record batches cannot be read row by row; write the table uncompressed`,
      )
    const {node, buffer, type} = this.locate(column)
    const [validity, ...rest] = header.buffers.slice(buffer, buffer + (type.typeId === Type.List ? 4 : 3))
    const valid =
      header.nodes[node].nullCount > 0
        ? this.readAt({offset: entry.body + validity.offset, length: (entry.rows + 7) >> 3})
        : null
    let offsets: Int32Array | null = null
    if (type.typeId === Type.List) {
      offsets = new Int32Array(entry.rows + 1)
      this.read(new Uint8Array(offsets.buffer), entry.body + rest[0].offset)
    }
    const size = type.typeId === Type.List ? 0 : (type as FixedSizeList).listSize
    const layout = {valid, offsets, values: entry.body + rest.at(-1)!.offset, size, half: this.half(column)}
    this.cache.put(key, layout, (valid?.byteLength ?? 0) + (offsets?.byteLength ?? 0) + 64)
    return layout
  }

  private half(column: string): boolean {
    return tensorDtype(this.schema.fields.find((f) => f.name === column)!) === 'float16'
  }

  /** The values buffer of a tensor column within a batch's body. */
  private tensorValues(column: string, header: BatchHeader): Extent {
    const {buffer, type} = this.locate(column)
    return header.buffers[buffer + (type.typeId === Type.List ? 3 : 2)]
  }

  /** A tensor column's first field node and buffer: those of the columns before it, counted depth first. */
  private locate(column: string): {node: number; buffer: number; type: DataType} {
    let node = 0
    let buffer = 0
    for (const field of this.schema.fields) {
      if (field.name === column) {
        if (!isTensorField(field))
          throw new UserError(`${this.source}: column ${column} is not a float32 tensor column`)
        return {node, buffer, type: field.type}
      }
      node += nodeCount(field.type)
      buffer += bufferCount(field.type, this.source)
    }
    throw new UserError(`${this.source}: no ${column} column`)
  }

  private readAt({offset, length}: Extent): Uint8Array {
    const bytes = new Uint8Array(length)
    this.read(bytes, offset)
    return bytes
  }

  private read(into: Uint8Array, position: number): void {
    this.readBytes += readFully(this.fd, into, position)
  }
}

/**
 * The index: a stream is read message by message (headers only, seeking past bodies); a file lists its messages
 * in its footer, which also holds its schema (apache-arrow's files have no schema message of their own).
 */
function indexMessages(fd: number, source: string): {schema: Schema; schemaBytes: Uint8Array; batches: BatchEntry[]} {
  const size = fstatSync(fd).size
  if (size === 0) throw new UserError(`${source}: empty input, expected an Arrow table`)
  const head = new Uint8Array(Math.min(8, size))
  readFully(fd, head, 0)
  const batches: BatchEntry[] = []
  let dictionaries: Extent[] = []
  const addBatch = ({decoded, ...at}: FoundMessage) => {
    const last = batches.at(-1)
    batches.push({
      start: last ? last.start + last.rows : 0,
      rows: (decoded.header() as unknown as BatchHeader).length,
      ...at,
      dictionaries,
    })
  }
  if (Buffer.from(head.subarray(0, 6)).equals(MAGIC)) {
    // Magic, padding, messages, the footer, its length, magic.
    const magic = new Uint8Array(6)
    if (size < 16) throw cutShort(source, 'file')
    readFully(fd, magic, size - 6)
    if (!Buffer.from(magic).equals(MAGIC)) throw cutShort(source, 'file')
    const tail = new Uint8Array(4)
    readFully(fd, tail, size - 10)
    const length = new DataView(tail.buffer).getInt32(0, true)
    const footer = new Uint8Array(length)
    readFully(fd, footer, size - 10 - length)
    const index = Footer.decode(footer)
    const found = (blocks: Iterable<FileBlock>, type: MessageHeader) =>
      [...blocks].map((b) => messageAt(fd, b.offset, size, type))
    dictionaries = found(index.dictionaryBatches(), MessageHeader.DictionaryBatch).map((d) => d.message)
    found(index.recordBatches(), MessageHeader.RecordBatch).forEach(addBatch)
    return {schema: index.schema, schemaBytes: frame(Message.encode(Message.from(index.schema))), batches}
  }
  let schema: Schema | undefined
  let schemaBytes = new Uint8Array(0)
  let inForce: {id: number; message: Extent}[] = []
  // Read up to the end-of-stream marker: bytes that stop before it are a stream whose writer died.
  const next = (pos: number) => {
    if (pos >= size)
      throw cutShort(
        source,
        'stream',
        batches.reduce((n, b) => n + b.rows, 0),
      )
    return messageAt(fd, pos, size)
  }
  for (let found = next(0); found; found = next(found.message.offset + found.message.length)) {
    const {decoded} = found
    if (decoded.isSchema()) {
      if (schema) throw new Error('a second schema message')
      schema = decoded.header()
      schemaBytes = new Uint8Array(found.message.length)
      readFully(fd, schemaBytes, found.message.offset)
    } else if (decoded.isDictionaryBatch()) {
      // A replacement drops the earlier batches of its id; a delta adds to them.
      const {id, isDelta} = decoded.header()
      inForce = [...inForce.filter((d) => isDelta || d.id !== id), {id, message: found.message}]
      dictionaries = inForce.map((d) => d.message)
    } else if (decoded.isRecordBatch()) {
      if (!schema) throw new Error('a record batch before the schema')
      addBatch(found)
    } else throw new Error(`unexpected message type ${MessageHeader[decoded.headerType]}`)
  }
  if (!schema) throw new Error('no schema message')
  return {schema, schemaBytes, batches}
}

interface FoundMessage {
  decoded: Message
  message: Extent
  meta: Extent
  body: number
}

/** The message at byte `pos`: its header decoded, its extents; null at the end of the stream. */
function messageAt(fd: number, pos: number, size: number): FoundMessage | null
function messageAt(fd: number, pos: number, size: number, type: MessageHeader): FoundMessage
function messageAt(fd: number, pos: number, size: number, type?: MessageHeader): FoundMessage | null {
  if (pos + 4 > size) return null
  const prefix = new Uint8Array(Math.min(8, size - pos))
  readFully(fd, prefix, pos)
  const view = new DataView(prefix.buffer)
  // A continuation marker, then the metadata length; before Arrow 0.15 the length alone.
  const continued = view.getInt32(0, true) === -1
  const length = continued ? (prefix.length === 8 ? view.getInt32(4, true) : 0) : view.getInt32(0, true)
  if (length === 0) return null
  const meta = {offset: pos + (continued ? 8 : 4), length}
  const bytes = new Uint8Array(length)
  readFully(fd, bytes, meta.offset)
  const decoded = Message.decode(bytes)
  const body = meta.offset + length
  const end = body + decoded.bodyLength
  if (end > size) throw new Error(`truncated: a message runs to byte ${end} of ${size}`)
  if (type !== undefined && decoded.headerType !== type)
    throw new Error(`expected a ${MessageHeader[type]} message at byte ${pos}`)
  return {decoded, message: {offset: pos, length: end - pos}, meta, body}
}

/** A stream message around flatbuffer metadata: continuation marker, length, metadata, padding to 8 bytes. */
function frame(metadata: Uint8Array): Uint8Array {
  const length = (metadata.length + 7) & ~7
  const bytes = new Uint8Array(8 + length)
  new DataView(bytes.buffer).setInt32(0, -1, true)
  new DataView(bytes.buffer).setInt32(4, length, true)
  bytes.set(metadata, 8)
  return bytes
}

function batchHeader(meta: Uint8Array): BatchHeader {
  return Message.decode(meta).header() as unknown as BatchHeader
}

/** The body minus the skipped extents, as ranges to read (the whole body when compressed: buffers are opaque). */
function bodyRanges(header: BatchHeader, skip: Extent[], bodyLength: number): Extent[] {
  if (header.compression) skip = []
  const ranges: Extent[] = []
  let at = 0
  for (const s of [...skip].sort((a, b) => a.offset - b.offset)) {
    if (s.offset > at) ranges.push({offset: at, length: s.offset - at})
    at = Math.max(at, s.offset + s.length)
  }
  if (bodyLength > at) ranges.push({offset: at, length: bodyLength - at})
  return ranges
}

function readFully(fd: number, into: Uint8Array, position: number): number {
  for (let done = 0; done < into.length;) {
    const n = readSync(fd, into, done, into.length - done, position + done)
    if (n === 0) throw new Error(`truncated: ${into.length - done} bytes missing at byte ${position + done}`)
    done += n
  }
  return into.length
}

/** Field nodes a column contributes to a record batch: one per array, children depth first. */
function nodeCount(type: DataType): number {
  return 1 + (type.children ?? []).reduce((n, child) => n + nodeCount(child.type), 0)
}

/** Buffers a column contributes to a record batch, as apache-arrow's VectorLoader consumes them. */
function bufferCount(type: DataType, source: string): number {
  const children = (type.children ?? []).reduce((n, child) => n + bufferCount(child.type, source), 0)
  switch (type.typeId) {
    case Type.Null:
      return 0
    case Type.Utf8:
    case Type.LargeUtf8:
    case Type.Binary:
    case Type.LargeBinary:
      return 3
    case Type.List:
    case Type.LargeList:
    case Type.Map:
      return 2 + children
    case Type.FixedSizeList:
    case Type.Struct:
      return 1 + children
    case Type.Union:
    case Type.Utf8View:
    case Type.BinaryView:
      throw new UserError(
        `${source}: a ${type} column before a tensor column cannot be skipped when reading rows on demand`,
      )
    default:
      return 2
  }
}

/** Least recently used first out, bounded by a byte budget; an entry larger than the budget is not kept. */
class ByteLru {
  budget = 0
  bytes = 0
  private readonly entries = new Map<string, {value: unknown; bytes: number}>()

  get(key: string): unknown {
    const entry = this.entries.get(key)
    if (!entry) return undefined
    this.entries.delete(key)
    this.entries.set(key, entry)
    return entry.value
  }

  put(key: string, value: unknown, bytes: number): void {
    if (bytes > this.budget) return
    this.entries.set(key, {value, bytes})
    this.bytes += bytes
    for (const [old, entry] of this.entries) {
      if (this.bytes <= this.budget) break
      this.entries.delete(old)
      this.bytes -= entry.bytes
    }
  }
}
