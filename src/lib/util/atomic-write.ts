import {rename, rm} from 'node:fs/promises'

/** Writes through a temporary name and a rename, so a reader never sees a half-written file. */
export async function atomicWrite(file: string, write: (temp: string) => Promise<void>): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`
  try {
    await write(temp)
    await rename(temp, file)
  } catch (error) {
    await rm(temp, {force: true})
    throw error
  }
}
