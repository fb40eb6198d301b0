import {progress} from '../util/progress.js'
import type {DownloadOptions} from './download.js'

const MIB = 1 << 20

/**
 * Progress for one download on stderr: a bar in MiB on a terminal, and a line for each retry (which logs
 * want too). The bar is created on the first byte count, when the total is known.
 */
export function stderrReporter(
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
): Pick<DownloadOptions, 'onProgress' | 'onRetry'> & {stop(): void} {
  let bar: ReturnType<typeof progress> | undefined
  let shown = 0
  return {
    onProgress(bytes, total) {
      bar ??= progress(`${label} (MiB)`, total === undefined ? undefined : Math.ceil(total / MIB), stream)
      for (; shown < Math.floor(bytes / MIB); shown++) bar.tick()
    },
    onRetry(reason, waitMs) {
      stream.write(`${label}: ${reason}; retrying in ${(waitMs / 1000).toFixed(1)} s\n`)
    },
    stop() {
      bar?.stop()
    },
  }
}
