import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {readdir, stat} from 'node:fs/promises'
import path from 'node:path'

export interface ModelDigest {
  path: string
  /** sha256 of each file of the checkpoint (one for a .pth/.pt/.safetensors, several for a vipant directory). */
  files: {name: string; sha256: string}[]
}

/** sha256 of a checkpoint file, or of each file in a checkpoint directory, read as a stream. */
export async function modelDigest(location: string): Promise<ModelDigest> {
  const info = await stat(location)
  const names = info.isDirectory() ? (await readdir(location)).sort() : [path.basename(location)]
  const dir = info.isDirectory() ? location : path.dirname(location)
  const files = []
  for (const name of names) {
    if ((await stat(path.join(dir, name))).isFile()) files.push({name, sha256: await sha256File(path.join(dir, name))})
  }
  return {path: path.resolve(location), files}
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}
