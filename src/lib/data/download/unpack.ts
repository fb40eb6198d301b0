import {mkdir, readdir, rename, rm, stat} from 'node:fs/promises'
import path from 'node:path'
import {execa} from 'execa'
import {UserError} from '../../util/errors.js'

export type ArchiveKind = 'zip' | 'tar.gz' | '7z'

interface Tool {
  binary: string
  args: (archive: string, into: string) => string[]
  install: string
}

const SEVEN_ZIP = (binary: string): Tool => ({
  binary, args: (archive, into) => ['x', '-y', `-o${into}`, archive], install: 'apt-get install p7zip-full (or 7zip) / brew install sevenzip',
})

/** The programs that can unpack each kind, in order of preference (all system tools: no archive code here). */
const TOOLS: Record<ArchiveKind, Tool[]> = {
  'zip': [
    {binary: 'unzip', args: (archive, into) => ['-q', '-o', archive, '-d', into], install: 'apt-get install unzip'},
    SEVEN_ZIP('7z'), SEVEN_ZIP('7za'), SEVEN_ZIP('7zz'),
  ],
  'tar.gz': [{binary: 'tar', args: (archive, into) => ['-xzf', archive, '-C', into], install: 'apt-get install tar'}],
  '7z': [SEVEN_ZIP('7z'), SEVEN_ZIP('7za'), SEVEN_ZIP('7zz')],
}

const present = new Map<string, boolean>()

async function isInstalled(binary: string): Promise<boolean> {
  if (!present.has(binary)) present.set(binary, (await execa(binary, ['--help'], {reject: false, stdin: 'ignore'})).code !== 'ENOENT')
  return present.get(binary)!
}

/** The first tool present that unpacks KIND; none present is an error that says what to install. */
export async function requireUnpacker(kind: ArchiveKind, what: string): Promise<Tool> {
  for (const tool of TOOLS[kind]) if (await isInstalled(tool.binary)) return tool
  const names = [...new Set(TOOLS[kind].map((t) => t.binary))].join(', ')
  throw new UserError(`${what}: unpacking a .${kind} needs one of ${names}: ${TOOLS[kind].at(-1)!.install}`)
}

/** Unpacks ARCHIVE into the (new) folder INTO. */
export async function unpackArchive(archive: string, kind: ArchiveKind, into: string): Promise<void> {
  const tool = await requireUnpacker(kind, archive)
  await mkdir(into, {recursive: true})
  const result = await execa(tool.binary, tool.args(archive, into), {reject: false, stdin: 'ignore'})
  if (result.failed) {
    const line = `${result.stderr}\n${result.stdout}`.split('\n').map((l) => l.trim()).find((l) => /error|cannot|unexpected|corrupt/i.test(l))
    throw new UserError(`${archive}: ${tool.binary} could not unpack it (${line ?? `exit code ${result.exitCode}`})`)
  }
}

/** Moves SRC to DEST, merging into folders that already exist (an earlier, interrupted unpack) and replacing files. */
export async function moveInto(src: string, dest: string): Promise<void> {
  const [from, to] = await Promise.all([stat(src), stat(dest).catch(() => undefined)])
  if (to?.isDirectory() && from.isDirectory()) {
    for (const name of await readdir(src)) await moveInto(path.join(src, name), path.join(dest, name))
    await rm(src, {recursive: true, force: true})
    return
  }
  if (to) await rm(dest, {recursive: true, force: true})
  await rename(src, dest)
}
