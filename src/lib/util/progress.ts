import {createRequire} from 'node:module'
import type cliProgress from 'cli-progress'
import {exitOnSignals, onExit} from './exit-hooks.js'

export interface Progress {
  tick(payload?: Record<string, string | number>): void
  stop(): void
}

/**
 * A progress bar on stderr, only when stderr is a terminal (pipes and logs stay clean).
 * `total` may be unknown for streamed input; the bar then counts up. The bar hides the cursor and turns off line
 * wrapping; both come back however the process ends (Ctrl-C included), or the shell is left without a cursor.
 */
export function progress(
  label: string,
  total: number | undefined,
  stream: NodeJS.WriteStream = process.stderr,
): Progress {
  if (!stream.isTTY) return {tick() {}, stop() {}}
  // Loaded only for a terminal: 12 ms of every start-up otherwise, for a bar that pipes and logs never show.
  const {SingleBar, Presets} = createRequire(import.meta.url)('cli-progress') as typeof cliProgress
  const bar = new SingleBar(
    {
      stream,
      format: total
        ? `${label} {bar} {value}/{total} {percentage}% | {detail} | ETA {eta_formatted}`
        : `${label} {value} | {detail}`,
      hideCursor: true,
      clearOnComplete: false,
    },
    Presets.shades_classic,
  )
  bar.start(total ?? 0, 0, {detail: ''})
  let stopped = false
  const stop = () => {
    if (!stopped) bar.stop()
    stopped = true
  }
  const forget = onExit(stop)
  exitOnSignals()
  let done = 0
  return {
    tick(payload) {
      done++
      bar.update(done, {detail: '', ...payload})
    },
    stop() {
      stop()
      forget()
    },
  }
}
