import {decodeImage, decodeImages} from './frames.js'
import type {RgbImage} from './rgb.js'

/** Pictures per decodeImages call at most: bounds ffmpeg's command line and the pixels held at once. */
const MAX_FILES = 64

interface Request {
  files: readonly string[]
  resolve: (images: RgbImage[]) => void
  reject: (error: unknown) => void
}

/**
 * Pictures for many rows from few decodeImages calls (few ffmpeg runs for pictures other than JPEG): requests made
 * while one call decodes wait and go together into the next, so the batches grow to what the pipeline keeps in
 * flight. A failed call is retried one request at a time, so a bad picture fails only its own row, with its own
 * file's error.
 */
export class PictureBatcher {
  private queue: Request[] = []
  private running = false

  decode(files: readonly string[]): Promise<RgbImage[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({files, resolve, reject})
      // The first request of an idle batcher waits one turn of the event loop for the others of its window.
      if (!this.running && this.queue.length === 1) setImmediate(() => void this.run())
    })
  }

  private async run(): Promise<void> {
    if (this.running || this.queue.length === 0) return
    this.running = true
    let files = 0
    const taken = this.queue.findIndex((r) => (files += r.files.length) >= MAX_FILES)
    const batch = this.queue.splice(0, taken < 0 ? this.queue.length : taken + 1)
    try {
      const images = await decodeImages(batch.flatMap((r) => r.files))
      let at = 0
      for (const r of batch) r.resolve(images.slice(at, (at += r.files.length)))
    } catch {
      await Promise.all(batch.map((r) => Promise.all(r.files.map(decodeImage)).then(r.resolve, r.reject)))
    }
    this.running = false
    void this.run()
  }
}
