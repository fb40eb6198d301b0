import {createHash} from 'node:crypto'
import {createReadStream, createWriteStream} from 'node:fs'
import {mkdir, rename, rm, stat} from 'node:fs/promises'
import type {IncomingMessage} from 'node:http'
import path from 'node:path'
import {pipeline} from 'node:stream/promises'
import {setTimeout as sleep} from 'node:timers/promises'
import {UserError} from '../util/errors.js'
import {sourceUrl, type NetConfig} from './config.js'
import {contentProblem, type ContentKind} from './content-check.js'
import type {KnownSizes} from './known-sizes.js'
import {get, HttpStatusError} from './request.js'

/** A file to fetch: its canonical URL and, where the publisher states it, its sha256. */
export interface RemoteFile {
  url: string
  sha256?: string
  /** What its first bytes must look like; checked before it is kept or its size recorded. */
  content?: ContentKind
}

export interface DownloadOptions {
  net: Pick<NetConfig, 'mirror' | 'timeoutMs' | 'retries' | 'backoffMs'>
  /** Sizes recorded from first downloads, for files with no published checksum or size. */
  sizes?: KnownSizes
  /** Bytes on disk so far (resumed bytes included) and the total when known. */
  onProgress?: (bytes: number, total: number | undefined) => void
  /** Told why an attempt failed and how long until the next. */
  onRetry?: (reason: string, waitMs: number) => void
  /** Added to the advice when the host cannot be resolved (offline). */
  offlineHint?: string
}

const MAX_BACKOFF_MS = 30_000

async function sizeOf(file: string): Promise<number> {
  return (await stat(file).catch(() => undefined))?.size ?? 0
}

/** `bytes START-END/TOTAL` of a 206 (or `bytes * /TOTAL` of a 416). */
function contentRange(response: IncomingMessage): {start?: number; total?: number} {
  const m = /^bytes (?:(\d+)-\d+|\*)\/(\d+|\*)$/.exec(response.headers['content-range'] ?? '')
  if (!m) return {}
  return {start: m[1] === undefined ? undefined : Number(m[1]), total: m[2] === '*' ? undefined : Number(m[2])}
}

/** One GET continuing PART from its current size; resolves with the full size when the body is complete. */
async function attempt(url: string, part: string, options: DownloadOptions): Promise<number | 'restart'> {
  const offset = await sizeOf(part)
  const response = await get(url, offset > 0 ? {range: `bytes=${offset}-`} : {}, options.net.timeoutMs)
  const status = response.statusCode ?? 0
  let total: number | undefined
  let append = false
  if (status === 416) {
    response.resume()
    const whole = contentRange(response).total
    // The part already holds every byte; anything else means it is not a prefix of this file.
    if (offset > 0 && whole === offset) return offset
    return 'restart'
  }
  if (status === 206) {
    const range = contentRange(response)
    if (range.start !== offset) {
      response.resume()
      return 'restart'
    }
    append = true
    total = range.total
  } else if (status === 200) {
    // A server that ignores Range sends the whole file again: start over rather than append it.
    const length = Number(response.headers['content-length'])
    total = Number.isFinite(length) && response.headers['content-length'] !== undefined ? length : undefined
  } else {
    response.resume()
    throw new HttpStatusError(url, status, response.statusMessage)
  }
  let bytes = append ? offset : 0
  options.onProgress?.(bytes, total)
  await pipeline(
    response,
    async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        bytes += chunk.length
        options.onProgress?.(bytes, total)
        yield chunk
      }
    },
    createWriteStream(part, {flags: append ? 'a' : 'w'}),
  )
  const written = await sizeOf(part)
  if (total !== undefined && written !== total)
    throw new Error(`${url}: connection closed at byte ${written} of ${total}`)
  return written
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256')
  await pipeline(createReadStream(file), hash)
  return hash.digest('hex')
}

/** The error's message, saying which URL once. */
function describe(error: unknown, url: string): string {
  const message = (error as Error).message
  return message.startsWith(url) ? message : `${url}: ${message}`
}

/** Local disk trouble will not pass by waiting. */
const LOCAL_ERRORS = new Set(['ENOSPC', 'EACCES', 'EPERM', 'EROFS', 'EDQUOT', 'EISDIR', 'ENOTDIR'])

/** A host name that does not resolve: offline or no DNS, which retrying for half a minute will not change. */
const UNRESOLVED = new Set(['ENOTFOUND', 'EAI_AGAIN'])

function unresolved(error: unknown, file: RemoteFile, url: string, dest: string, hint: string | undefined): UserError {
  const host = (error as {hostname?: string}).hostname ?? new URL(url).hostname
  return new UserError(
    `${url}: cannot resolve ${host} (offline?): set VIPANT_MIRROR to a mirror that has it, or download ${file.url} ` +
      `elsewhere and place it at ${dest}${hint ? ` (${hint})` : ''}`,
  )
}

function isTransient(error: unknown): boolean {
  if (error instanceof HttpStatusError) return error.transient
  return !(error instanceof UserError) && !LOCAL_ERRORS.has((error as NodeJS.ErrnoException).code ?? '')
}

/**
 * Downloads FILE.url to DEST: resumed from `DEST.part` with a Range request, restarted when the server
 * ignores the range, retried with exponential backoff on resets, stalls and 5xx (an attempt that made
 * progress does not count against the retries), checked against the sha256 or the size recorded at the
 * first download (recorded now, if this is it), then renamed into place. A file that fails its check
 * leaves nothing behind.
 */
export async function download(file: RemoteFile, dest: string, options: DownloadOptions): Promise<{size: number}> {
  const url = sourceUrl(file.url, options.net)
  const part = `${dest}.part`
  await mkdir(path.dirname(dest), {recursive: true})
  let failures = 0
  let size: number | undefined
  while (size === undefined) {
    const before = await sizeOf(part)
    try {
      const result = await attempt(url, part, options)
      if (result === 'restart') {
        await rm(part, {force: true})
        failures++
      } else size = result
    } catch (error) {
      if (UNRESOLVED.has((error as NodeJS.ErrnoException).code ?? ''))
        throw unresolved(error, file, url, dest, options.offlineHint)
      if (!isTransient(error)) throw new UserError(describe(error, url))
      if ((await sizeOf(part)) <= before) failures++
      if (failures > options.net.retries) {
        throw new UserError(`${describe(error, url)} (gave up after ${options.net.retries} retries; rerun to resume)`)
      }
      const wait = Math.min(options.net.backoffMs * 2 ** Math.max(0, failures - 1), MAX_BACKOFF_MS)
      options.onRetry?.(describe(error, url), wait)
      await sleep(wait)
    }
  }
  await verify(file, part, size, options.sizes)
  await rename(part, dest)
  return {size}
}

async function verify(file: RemoteFile, part: string, size: number, sizes: KnownSizes | undefined): Promise<void> {
  const refuse = async (problem: string): Promise<never> => {
    await rm(part, {force: true})
    throw new UserError(`${file.url}: ${problem}; the download was deleted`)
  }
  const problem = file.content && (await contentProblem(part, file.content))
  if (problem) await refuse(`the server sent ${problem}`)
  const expected = sizes?.get(file.url)
  if (expected !== undefined && size !== expected) {
    const where = `the size of its first download, kept in ${sizes!.file}: remove that entry if that download was bad`
    await refuse(`${size} bytes where ${expected} were expected (${where})`)
  }
  if (file.sha256) {
    const actual = await sha256File(part)
    if (actual !== file.sha256) await refuse(`sha256 ${actual} where ${file.sha256} was expected`)
  } else if (expected === undefined) {
    await sizes?.record(file.url, size)
  }
}
