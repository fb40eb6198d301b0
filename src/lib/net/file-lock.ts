import {open, readFile, rm} from 'node:fs/promises'
import {setTimeout as sleep} from 'node:timers/promises'

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Runs FN holding `FILE.lock`, so that two processes (or worker threads) wanting the same download do it
 * once: the others wait, then find the file there. A lock left by a process that died is taken over.
 */
export async function withFileLock<T>(file: string, fn: () => Promise<T>, pollMs = 200): Promise<T> {
  const lock = `${file}.lock`
  for (;;) {
    try {
      const handle = await open(lock, 'wx')
      await handle.writeFile(String(process.pid))
      await handle.close()
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const owner = Number(await readFile(lock, 'utf8').catch(() => ''))
      // An empty lock is one being written this instant; only a named owner that is gone makes it stale.
      if (owner > 0 && !alive(owner)) await rm(lock, {force: true})
      else await sleep(pollMs)
    }
  }
  try {
    return await fn()
  } finally {
    await rm(lock, {force: true})
  }
}
