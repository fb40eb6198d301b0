import {existsSync} from 'node:fs'
import {copyFile, mkdir} from 'node:fs/promises'
import path from 'node:path'
import {runTool} from '../util/ffmpeg.js'

/** What a browser plays as it is; anything else (m4a, webm, video) is transcoded when copied. */
const PLAYABLE = new Set(['.wav', '.mp3', '.ogg', '.oga', '.flac'])

/**
 * How a page reaches its clips' sound: by a path relative to the page (the default: nothing copied), or from
 * copies in the sibling folder PAGE_files/ (--html-copy), so that the page and its folder can be moved or
 * zipped together. Either way the src is relative, so the pair plays wherever it lands.
 */
export class ClipMedia {
  private readonly pageDir: string
  private readonly copies = new Map<string, string | null>()
  readonly folder: string | null

  constructor(page: string, copy: boolean) {
    this.pageDir = path.dirname(path.resolve(page))
    this.folder = copy ? filesFolder(page) : null
  }

  /** The src of FILE's player, or null where there is no file to play (a clip not on disk). */
  async src(file: string | null): Promise<string | null> {
    if (file === null || !existsSync(file)) return null
    const absolute = path.resolve(file)
    if (this.folder === null) return relativeUrl(this.pageDir, absolute)
    if (!this.copies.has(absolute)) this.copies.set(absolute, await this.copy(absolute))
    const copied = this.copies.get(absolute)!
    return relativeUrl(this.pageDir, copied)
  }

  /** Numbered so that equal names from different folders (fold1/a.wav, fold2/a.wav) stay apart. */
  private async copy(file: string): Promise<string> {
    await mkdir(this.folder!, {recursive: true})
    const ext = path.extname(file).toLowerCase()
    const stem = path.basename(file, path.extname(file)).replace(/[^\w.-]+/g, '_')
    const name = `${String(this.copies.size + 1).padStart(5, '0')}-${stem}`
    if (PLAYABLE.has(ext)) {
      const target = path.join(this.folder!, name + ext)
      await copyFile(file, target)
      return target
    }
    const target = path.join(this.folder!, `${name}.ogg`)
    await runTool('ffmpeg', ['-v', 'error', '-y', '-i', file, '-vn', '-c:a', 'libvorbis', '-q:a', '4', target], file)
    return target
  }
}

/** PAGE_files beside PAGE, named as browsers name a saved page's folder (report.html -> report_files). */
export function filesFolder(page: string): string {
  const resolved = path.resolve(page)
  const ext = path.extname(resolved)
  return `${ext ? resolved.slice(0, -ext.length) : resolved}_files`
}

/** A relative URL: each path segment percent-encoded, so "#", "?" or "%" in a file name stay part of it. */
function relativeUrl(from: string, file: string): string {
  return path.relative(from, file).split(path.sep).map(encodeURIComponent).join('/')
}
