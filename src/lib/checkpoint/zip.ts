import {open, type FileHandle} from 'node:fs/promises'
import {inflateRawSync} from 'node:zlib'
import {UserError} from '../util/errors.js'

/** One member of a zip archive, as its central directory describes it. */
export interface ZipEntry {
  name: string
  method: number
  compressedSize: number
  size: number
  localHeaderOffset: number
  /** Where the next entry or the central directory begins: this entry's bytes must end there. */
  end: number
}

const EOCD = 0x06054b50
const EOCD64 = 0x06064b50
const EOCD64_LOCATOR = 0x07064b50
const CENTRAL = 0x02014b50
const LOCAL = 0x04034b50
const STORED = 0
const DEFLATED = 8
/** A 16/32-bit field at its maximum means "see the ZIP64 record" (APPNOTE 4.4.1.4). */
const U16_MAX = 0xffff
const U32_MAX = 0xffffffff
/**
 * A deflated entry may state at most 100 times its compressed size once past its first 100 KiB, as
 * Apache POI's ZipSecureFile allows: weights barely compress, and deflate's own 1032-fold limit would
 * let a 3 MB file expand to 3 GB. PyTorch itself only writes stored entries.
 */
const INFLATE_LIMITS = {ratio: 100, grace: 100 << 10}
/** A central directory entry's fixed part; a count that cannot fit its directory is a lie. */
const CENTRAL_SIZE = 46

/**
 * A zip archive read on demand through a file handle: only the central directory is read on open and
 * each entry when asked for, so a 350 MB checkpoint is read once. PyTorch writes stored entries (and
 * ZIP64 records past 4 GiB); deflated entries come from archives repacked by other tools.
 */
export class ZipArchive {
  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
    readonly entries: Map<string, ZipEntry>,
  ) {}

  static async open(file: string): Promise<ZipArchive> {
    const handle = await open(file, 'r')
    try {
      return new ZipArchive(file, handle, await readCentralDirectory(file, handle))
    } catch (error) {
      await handle.close()
      throw error
    }
  }

  async read(name: string): Promise<Uint8Array> {
    const entry = this.entries.get(name)
    if (!entry) throw new UserError(`${this.file}: the archive has no ${name}`)
    const local = await readAt(this.handle, entry.localHeaderOffset, 30, this.file)
    const view = new DataView(local.buffer, local.byteOffset, 30)
    if (view.getUint32(0, true) !== LOCAL)
      throw new UserError(`${this.file}: corrupt zip (bad local header for ${name})`)
    const start = entry.localHeaderOffset + 30 + view.getUint16(26, true) + view.getUint16(28, true)
    if (start + entry.compressedSize > entry.end)
      throw new UserError(`${this.file}: corrupt zip (${name} runs into the next entry)`)
    const raw = await readAt(this.handle, start, entry.compressedSize, this.file)
    if (entry.method === STORED) return raw
    try {
      // Inflate no further than the stated size: a stream that would go on is refused, not inflated in full.
      const data = inflateRawSync(raw, {maxOutputLength: Math.max(1, entry.size)})
      if (data.length !== entry.size) throw new Error(`${data.length} bytes, ${entry.size} stated`)
      return new Uint8Array(data.buffer, data.byteOffset, data.length)
    } catch (error) {
      throw new UserError(`${this.file}: corrupt zip (${name} does not inflate: ${(error as Error).message})`)
    }
  }

  close(): Promise<void> {
    return this.handle.close()
  }
}

/** Whether the file starts like a zip archive (a local header, or an empty archive's end record). */
export function looksLikeZip(head: Uint8Array): boolean {
  if (head.length < 4) return false
  const magic = new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true)
  return magic === LOCAL || magic === EOCD
}

async function readCentralDirectory(file: string, handle: FileHandle): Promise<Map<string, ZipEntry>> {
  const {size} = await handle.stat()
  // The end record is 22 bytes plus a comment of at most 64 KiB, so it lies in the last 65 557 bytes.
  const tailStart = Math.max(0, size - 22 - U16_MAX)
  const tail = await readAt(handle, tailStart, size - tailStart, file)
  const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength)
  let at = tail.length - 22
  while (at >= 0 && tv.getUint32(at, true) !== EOCD) at--
  if (at < 0) throw new UserError(`${file}: not a zip archive, or truncated (no end of central directory)`)
  let count = tv.getUint16(at + 10, true)
  let cdSize = tv.getUint32(at + 12, true)
  let cdOffset = tv.getUint32(at + 16, true)
  if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) {
    if (at < 20 || tv.getUint32(at - 20, true) !== EOCD64_LOCATOR) {
      throw new UserError(`${file}: corrupt zip (ZIP64 end record locator missing)`)
    }
    const eocd64Offset = Number(tv.getBigUint64(at - 12, true))
    if (eocd64Offset + 56 > size)
      throw new UserError(`${file}: corrupt zip (ZIP64 end record past the end of the file)`)
    const eocd64 = await readAt(handle, eocd64Offset, 56, file)
    const v64 = new DataView(eocd64.buffer, eocd64.byteOffset, 56)
    if (v64.getUint32(0, true) !== EOCD64) throw new UserError(`${file}: corrupt zip (bad ZIP64 end record)`)
    count = Number(v64.getBigUint64(32, true))
    cdSize = Number(v64.getBigUint64(40, true))
    cdOffset = Number(v64.getBigUint64(48, true))
  }
  if (cdOffset + cdSize > size)
    throw new UserError(`${file}: truncated zip (central directory past the end of the file)`)
  if (count * CENTRAL_SIZE > cdSize) {
    throw new UserError(`${file}: corrupt zip (${count} entries cannot fit a ${cdSize}-byte central directory)`)
  }
  const cd = await readAt(handle, cdOffset, cdSize, file)
  const v = new DataView(cd.buffer, cd.byteOffset, cd.byteLength)
  const entries = new Map<string, ZipEntry>()
  let p = 0
  for (let i = 0; i < count; i++) {
    if (p + CENTRAL_SIZE > cd.length || v.getUint32(p, true) !== CENTRAL) {
      throw new UserError(`${file}: corrupt zip (central directory entry ${i})`)
    }
    const flags = v.getUint16(p + 8, true)
    const method = v.getUint16(p + 10, true)
    const nameLength = v.getUint16(p + 28, true)
    const extraLength = v.getUint16(p + 30, true)
    const commentLength = v.getUint16(p + 32, true)
    if (p + CENTRAL_SIZE + nameLength + extraLength + commentLength > cd.length) {
      throw new UserError(`${file}: corrupt zip (central directory entry ${i} runs past the directory)`)
    }
    const name = new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLength))
    const entry: ZipEntry = {
      name,
      method,
      compressedSize: v.getUint32(p + 20, true),
      size: v.getUint32(p + 24, true),
      localHeaderOffset: v.getUint32(p + 42, true),
      end: cdOffset,
    }
    readZip64Extra(cd.subarray(p + 46 + nameLength, p + 46 + nameLength + extraLength), entry, file)
    if (flags & 1) throw new UserError(`${file}: ${name} is encrypted`)
    if (method !== STORED && method !== DEFLATED)
      throw new UserError(
        `${file}: ${name} uses zip compression method ${method} (only stored and deflated are supported)`,
      )
    if (entry.localHeaderOffset + entry.compressedSize > size)
      throw new UserError(`${file}: truncated zip (${name} ends past the end of the file)`)
    if (method === STORED && entry.size !== entry.compressedSize) {
      throw new UserError(
        `${file}: corrupt zip (${name} states ${entry.size} bytes from ${entry.compressedSize} stored ones)`,
      )
    }
    if (
      method === DEFLATED &&
      entry.size > Math.max(INFLATE_LIMITS.grace, INFLATE_LIMITS.ratio * entry.compressedSize)
    ) {
      const stated = `${entry.size} bytes from ${entry.compressedSize} deflated ones`
      throw new UserError(`${file}: refusing to load: ${name} states ${stated} (a zip bomb?)`)
    }
    entries.set(name, entry)
    p += CENTRAL_SIZE + nameLength + extraLength + commentLength
  }
  refuseOverlaps(file, [...entries.values()])
  return entries
}

/**
 * Entries that share bytes are how a small zip "holds" terabytes (a non-overlapping-looking bomb, or
 * many names for one blob): like CPython's zipfile, each entry must end before the next one starts.
 */
function refuseOverlaps(file: string, entries: ZipEntry[]): void {
  const byOffset = entries.sort((a, b) => a.localHeaderOffset - b.localHeaderOffset)
  for (let i = 0; i < byOffset.length; i++) {
    const entry = byOffset[i]
    const next = byOffset[i + 1]
    if (next) entry.end = next.localHeaderOffset
    if (entry.localHeaderOffset + 30 + entry.compressedSize > entry.end) {
      throw new UserError(`${file}: corrupt zip (${entry.name} overlaps ${next ? next.name : 'the central directory'})`)
    }
  }
}

/** The ZIP64 extra field (id 1) holds, in this order, only the fields whose 32-bit slot is saturated. */
function readZip64Extra(extra: Uint8Array, entry: ZipEntry, file: string): void {
  const v = new DataView(extra.buffer, extra.byteOffset, extra.byteLength)
  for (let p = 0; p + 4 <= extra.length; p += 4 + v.getUint16(p + 2, true)) {
    if (v.getUint16(p, true) !== 1) continue
    const end = Math.min(extra.length, p + 4 + v.getUint16(p + 2, true))
    let q = p + 4
    const next = () => {
      if (q + 8 > end) throw new UserError(`${file}: corrupt zip (${entry.name}: ZIP64 extra field too short)`)
      const value = Number(v.getBigUint64(q, true))
      q += 8
      return value
    }
    if (entry.size === U32_MAX) entry.size = next()
    if (entry.compressedSize === U32_MAX) entry.compressedSize = next()
    if (entry.localHeaderOffset === U32_MAX) entry.localHeaderOffset = next()
    return
  }
}

async function readAt(handle: FileHandle, position: number, length: number, file: string): Promise<Uint8Array> {
  const out = new Uint8Array(length)
  let done = 0
  while (done < length) {
    const {bytesRead} = await handle.read(out, done, length - done, position + done)
    if (bytesRead === 0) throw new UserError(`${file}: truncated (wanted ${length} bytes at offset ${position})`)
    done += bytesRead
  }
  return out
}
