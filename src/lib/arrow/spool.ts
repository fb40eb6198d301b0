import {createWriteStream} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {pipeline} from 'node:stream/promises'
import {removeOnExit} from '../util/atomic-write.js'

/**
 * Copies an input that cannot seek (stdin, a pipe, a FIFO) to a file under os.tmpdir() and opens it with `open`.
 * The name is removed as soon as `open` returns (POSIX keeps an open handle's data until it is closed, or the
 * process ends however it ends); an exit, SIGINT/SIGTERM or an error before that removes it too.
 */
export async function openSpooled<T>(input: NodeJS.ReadableStream, open: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vipant-spool-'))
  const release = removeOnExit(dir)
  try {
    const file = path.join(dir, 'table.arrow')
    await pipeline(input, createWriteStream(file))
    return await open(file)
  } finally {
    await rm(dir, {recursive: true, force: true})
    release()
  }
}
