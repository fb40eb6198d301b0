import {open} from 'node:fs/promises'

/**
 * What a downloaded file must look like before it is cached or its size recorded: a captive portal, a login
 * page or an error page sent with status 200 would otherwise be kept as the file and reused forever.
 */
export type ContentKind = 'zip' | 'gzip' | '7z' | 'checkpoint' | 'text'

const ZIP = [0x50, 0x4b, 0x03, 0x04]
const GZIP = [0x1f, 0x8b]
const SEVEN_ZIP = [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]
/** A pickle's PROTO opcode (protocol 2 to 5): torch.save before zip files. */
const PICKLE = (head: Uint8Array) => head[0] === 0x80 && head[1] >= 2 && head[1] <= 5

const startsWith = (head: Uint8Array, magic: number[]) => magic.every((byte, i) => head[i] === byte)

const ACCEPTS: Record<ContentKind, {what: string; ok: (head: Uint8Array) => boolean}> = {
  zip: {what: 'a zip archive', ok: (h) => startsWith(h, ZIP)},
  gzip: {what: 'a gzip archive', ok: (h) => startsWith(h, GZIP)},
  '7z': {what: 'a 7z archive', ok: (h) => startsWith(h, SEVEN_ZIP)},
  // A TorchScript or torch.save zip, a pre-1.6 pickle, or safetensors (8-byte header length, then its JSON).
  checkpoint: {
    what: 'a checkpoint (zip, pickle or safetensors)',
    ok: (h) => startsWith(h, ZIP) || PICKLE(h) || h[8] === 0x7b,
  },
  text: {what: 'a text file', ok: (h) => !h.includes(0)},
}

/** What a head that fails its check looks like instead, for the message. */
function looksLike(head: Uint8Array): string {
  const text = Buffer.from(head).toString('latin1').trimStart().toLowerCase()
  if (['<!doctype html', '<html', '<head'].some((tag) => text.startsWith(tag)))
    return 'an HTML page (a captive portal, login or error page?)'
  if (head.length === 0) return 'an empty file'
  return `bytes ${Buffer.from(head.subarray(0, 8)).toString('hex')}`
}

const HEAD_BYTES = 512

/** Undefined when FILE's first bytes fit KIND, else what is wrong, in words. */
export async function contentProblem(file: string, kind: ContentKind): Promise<string | undefined> {
  const handle = await open(file, 'r')
  let head: Uint8Array
  try {
    const buffer = new Uint8Array(HEAD_BYTES)
    head = buffer.subarray(0, (await handle.read(buffer, 0, HEAD_BYTES, 0)).bytesRead)
  } finally {
    await handle.close()
  }
  const html = looksLike(head)
  // An HTML page is text, but never the text file a publisher lists (CSV, JSON).
  if (ACCEPTS[kind].ok(head) && head.length > 0 && !html.startsWith('an HTML')) return undefined
  return `${html}, not ${ACCEPTS[kind].what}`
}
