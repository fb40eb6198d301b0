import os from 'node:os'

/**
 * Worker threads as many as asked, but no more than half the free memory holds at `bytesPerWorker` each: a
 * request memory cannot hold is lowered, and said once on stderr. (The pool also starts threads only as work
 * arrives, so a large request over a few clips costs a few threads.)
 */
export function capWorkers(command: string, requested: number, bytesPerWorker: number, free = os.freemem()): number {
  const fits = Math.max(1, Math.floor(free / 2 / bytesPerWorker))
  if (requested <= fits) return requested
  process.stderr.write(
    `${command}: --workers ${requested} lowered to ${fits}: ${(free / 2 ** 30).toFixed(1)} GB free, about ${(bytesPerWorker / 2 ** 20).toFixed(0)} MB a worker\n`,
  )
  return fits
}
