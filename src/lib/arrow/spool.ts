import {createWriteStream, rmSync} from 'node:fs'
import {mkdtemp} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {pipeline} from 'node:stream/promises'

/**
 * Copies an input that cannot seek (stdin, a pipe, a FIFO) to a file under os.tmpdir() and opens it with `open`.
 * The name is removed as soon as `open` returns (POSIX keeps an open handle's data until it is closed, or the
 * process ends however it ends); an exit or an error before that removes it too.
 */
export async function openSpooled<T>(input: NodeJS.ReadableStream, open: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vipant-spool-'))
  const remove = () => rmSync(dir, {recursive: true, force: true})
  process.on('exit', remove)
  try {
    const file = path.join(dir, 'table.arrow')
    await pipeline(input, createWriteStream(file))
    return await open(file)
  } finally {
    remove()
    process.off('exit', remove)
  }
}
