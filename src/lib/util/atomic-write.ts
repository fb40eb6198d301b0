import {readdirSync, rmSync, statSync} from 'node:fs'
import {rename, rm} from 'node:fs/promises'
import path from 'node:path'
import {exitOnSignals, onExit} from './exit-hooks.js'

/**
 * Writes through a temporary name and a rename, so a reader never sees a half-written file. A device or a pipe
 * (/dev/null, a named FIFO, /dev/stdout) is written in place: renaming over it would replace it.
 */
export async function atomicWrite(file: string, write: (temp: string) => Promise<void>): Promise<void> {
  if (isSpecialFile(file)) return write(file)
  const temp = claimTemp(file)
  try {
    await write(temp.path)
    await rename(temp.path, file)
  } catch (error) {
    await rm(temp.path, {recursive: true, force: true})
    throw error
  } finally {
    temp.release()
  }
}

export interface TempName {
  /** .NAME.PID.tmp beside the target: hidden, and named after the process that owns it. */
  path: string
  /** Called once the temporary file is renamed or removed: the exit hook has nothing left to do. */
  release(): void
}

/**
 * The one way a writer gets a temporary name for TARGET (a file or a directory): stale ones left by processes that
 * died harder (SIGKILL, power loss) are removed first, and this one is removed on exit and on SIGINT/SIGTERM (which
 * then end the process with 130/143) unless released first.
 */
export function claimTemp(target: string): TempName {
  removeStaleTemps(target)
  const temp = tempName(target, process.pid)
  const release = removeOnExit(temp)
  return {path: temp, release}
}

/** Removes PATH (a file or a directory tree) when the process exits or is ended by SIGINT/SIGTERM, unless the returned function is called first. */
export function removeOnExit(file: string): () => void {
  const forget = onExit(() => rmSync(file, {recursive: true, force: true}))
  exitOnSignals()
  return () => void forget()
}

const tempName = (target: string, pid: number) =>
  path.join(path.dirname(target), `.${path.basename(target)}.${pid}.tmp`)

/** Removes .NAME.PID.tmp siblings of `target` whose process is gone. */
function removeStaleTemps(target: string): void {
  const prefix = `.${path.basename(target)}.`
  let names: string[]
  try {
    names = readdirSync(path.dirname(target))
  } catch {
    return
  }
  for (const name of names) {
    const pid =
      name.startsWith(prefix) && name.endsWith('.tmp') ? Number(name.slice(prefix.length, -'.tmp'.length)) : NaN
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid))
      rmSync(tempName(target, pid), {recursive: true, force: true})
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' // alive, another user's
  }
}

/** Whether `file` exists and is not a regular file (a device, FIFO or socket). */
export function isSpecialFile(file: string): boolean {
  const info = statSync(file, {throwIfNoEntry: false})
  return info !== undefined && !info.isFile() && !info.isDirectory()
}
