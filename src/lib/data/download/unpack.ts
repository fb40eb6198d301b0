import {lstat, mkdir, readdir, readlink, rename, rm} from 'node:fs/promises'
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

/** The archive itself is bad (corrupt, or holding links or special files): keeping it would only fail again. */
export class BadArchive extends UserError {}

/** A local trouble the tool met (a full disk): the archive may be fine. */
const LOCAL_TROUBLE = /no space|quota|read-only file system|permission denied/i

/**
 * Unpacks ARCHIVE into the (new) folder INTO, then checks what came out: only folders and plain files, no
 * links (symbolic or hard) and no devices, FIFOs or sockets, so nothing moved out of INTO can reach elsewhere.
 */
export async function unpackArchive(archive: string, kind: ArchiveKind, into: string): Promise<void> {
  const tool = await requireUnpacker(kind, archive)
  await mkdir(into, {recursive: true})
  const result = await execa(tool.binary, tool.args(archive, into), {reject: false, stdin: 'ignore'})
  if (result.failed) {
    const lines = `${result.stderr}\n${result.stdout}`.split('\n').map((l) => l.trim())
    const line = lines.find((l) => LOCAL_TROUBLE.test(l)) ?? lines.find((l) => /error|cannot|unexpected|corrupt|dangerous/i.test(l))
    const Failure = line && LOCAL_TROUBLE.test(line) ? UserError : BadArchive
    throw new Failure(`${archive}: ${tool.binary} could not unpack it (${line ?? `exit code ${result.exitCode}`})`)
  }
  await requirePlainTree(into, archive)
}

const ONLY_PLAIN = 'refused (archives may hold only files and folders)'

/** Walks ROOT without following links and refuses anything but folders and files with a single name. */
async function requirePlainTree(root: string, archive: string): Promise<void> {
  const folders = [root]
  for (let folder = folders.pop(); folder !== undefined; folder = folders.pop()) {
    for (const name of await readdir(folder)) {
      const entry = path.join(folder, name)
      const relative = path.relative(root, entry)
      const info = await lstat(entry)
      if (info.isDirectory()) folders.push(entry)
      else if (info.isSymbolicLink()) {
        throw new BadArchive(`${archive}: holds a symbolic link ${relative} -> ${await readlink(entry)}; ${ONLY_PLAIN}`)
      } else if (!info.isFile()) throw new BadArchive(`${archive}: holds ${relative}, a device, FIFO or socket; refused`)
      else if (info.nlink > 1) throw new BadArchive(`${archive}: holds a hard link ${relative}; ${ONLY_PLAIN}`)
    }
  }
}

/**
 * Moves SRC to DEST, merging into folders that already exist (an earlier, interrupted unpack) and replacing files.
 * Neither side's links are followed: a link at DEST is replaced, never written through.
 */
export async function moveInto(src: string, dest: string): Promise<void> {
  const [from, to] = await Promise.all([lstat(src), lstat(dest).catch(() => undefined)])
  if (to?.isDirectory() && from.isDirectory()) {
    for (const name of await readdir(src)) await moveInto(path.join(src, name), path.join(dest, name))
    await rm(src, {recursive: true, force: true})
    return
  }
  if (to) await rm(dest, {recursive: true, force: true})
  await rename(src, dest)
}
