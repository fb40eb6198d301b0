import {readFileSync} from 'node:fs'
import {mkdir, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {atomicWrite} from '../util/atomic-write.js'

/**
 * Sizes of files whose publisher states no checksum, as first downloaded (`sizes.json` in the cache folder,
 * keyed by the canonical URL): a later download of the same file must match.
 */
export class KnownSizes {
  readonly file: string

  constructor(cacheDir: string) {
    this.file = path.join(cacheDir, 'sizes.json')
  }

  private read(): Record<string, number> {
    try {
      return JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, number>
    } catch {
      return {}
    }
  }

  get(url: string): number | undefined {
    return this.read()[url]
  }

  async record(url: string, size: number): Promise<void> {
    await this.write({...this.read(), [url]: size})
  }

  /** Drops URL's size, when the file it was recorded from turned out to be bad. */
  async forget(url: string): Promise<void> {
    const sizes = this.read()
    if (!(url in sizes)) return
    delete sizes[url]
    await this.write(sizes)
  }

  private async write(sizes: Record<string, number>): Promise<void> {
    await mkdir(path.dirname(this.file), {recursive: true})
    await atomicWrite(this.file, (temp) => writeFile(temp, `${JSON.stringify(sizes, null, 2)}\n`))
  }
}
