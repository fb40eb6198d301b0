import {lstat, mkdir, readdir, readlink, rename, rm, stat, statfs} from 'node:fs/promises'
import path from 'node:path'
import {createInterface} from 'node:readline'
import {execa} from 'execa'
import {UserError} from '../../util/errors.js'

export type ArchiveKind = 'zip' | 'tar.gz' | '7z'

interface Tool {
  binary: string
  args: (archive: string, into: string) => string[]
  /** The command that lists the archive's entries (names, types, sizes) without writing anything. */
  list: (archive: string) => string[]
  /** Reads one entry from the listing's lines (a 7z listing: one block of `Key = value` lines). */
  entries: (lines: AsyncIterable<string>) => AsyncIterable<Entry>
  install: string
}

/** An archive entry as its listing declares it. */
interface Entry {
  name: string
  /** The first letter of its `ls -l` mode: - file, d folder, l symbolic link, h hard link, c b p s special. */
  type: string
  size: number
}

const SEVEN_ZIP = (binary: string): Tool => ({
  binary,
  args: (archive, into) => ['x', '-y', `-o${into}`, archive],
  list: (archive) => ['l', '-slt', '-ba', archive],
  entries: sevenZipEntries,
  install: 'apt-get install p7zip-full (or 7zip) / brew install sevenzip',
})

/** The programs that can unpack each kind, in order of preference (all system tools: no archive code here). */
const TOOLS: Record<ArchiveKind, Tool[]> = {
  zip: [
    {
      binary: 'unzip',
      args: (archive, into) => ['-q', '-o', archive, '-d', into],
      list: (archive) => ['-Z', '-l', archive], // zipinfo: the central directory only, nothing inflated
      entries: matchedEntries(/^(\S)\S+\s+\S+\s+\S+\s+(\d+)\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s(.*)$/, [1, 2, 3]),
      install: 'apt-get install unzip',
    },
    SEVEN_ZIP('7z'),
    SEVEN_ZIP('7za'),
    SEVEN_ZIP('7zz'),
  ],
  'tar.gz': [
    {
      binary: 'tar',
      args: (archive, into) => ['-xzf', archive, '-C', into],
      list: (archive) => ['-tvzf', archive, '--numeric-owner', '--quoting-style=escape'],
      // mode uid/gid size date time name [-> target | link to target]; a device shows "major,minor" for its size
      entries: matchedEntries(/^(\S)\S{9}\s+\S+\s+([\d,]+)\s+\S+\s+\S+\s(.*)$/, [1, 2, 3]),
      install: 'apt-get install tar',
    },
  ],
  '7z': [SEVEN_ZIP('7z'), SEVEN_ZIP('7za'), SEVEN_ZIP('7zz')],
}

/** Entries from a listing with one line an entry; lines that do not match (headers, totals) are skipped. */
function matchedEntries(pattern: RegExp, [type, size, name]: number[]) {
  return async function* (lines: AsyncIterable<string>): AsyncIterable<Entry> {
    for await (const line of lines) {
      const m = pattern.exec(line)
      if (m) yield {type: m[type], size: /^\d+$/.test(m[size]) ? Number(m[size]) : 0, name: m[name]}
    }
  }
}

/** Entries from `7z l -slt -ba`: blocks of `Key = value` lines; the unix mode follows the attribute letters. */
async function* sevenZipEntries(lines: AsyncIterable<string>): AsyncIterable<Entry> {
  let block = new Map<string, string>()
  const entry = (): Entry => {
    const mode = /\s([-dlhcbps])[-rwxsStT]{9}$/.exec(block.get('Attributes') ?? '')
    const type = mode ? mode[1] : block.get('Folder') === '+' || /^D/.test(block.get('Attributes') ?? '') ? 'd' : '-'
    return {name: block.get('Path') ?? '', type, size: Number(block.get('Size')) || 0}
  }
  for await (const line of lines) {
    const m = /^(.+?) = (.*)$/.exec(line)
    if (m?.[1] === 'Path' && block.has('Path')) {
      yield entry()
      block = new Map()
    }
    if (m) block.set(m[1], m[2])
  }
  if (block.has('Path')) yield entry()
}

const present = new Map<string, boolean>()

async function isInstalled(binary: string): Promise<boolean> {
  if (!present.has(binary))
    present.set(binary, (await execa(binary, ['--help'], {reject: false, stdin: 'ignore'})).code !== 'ENOENT')
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
 * Unpacks ARCHIVE into the (new) folder INTO once its listing passes (checkListing), then checks what came out:
 * only folders and plain files, no links (symbolic or hard) and no devices, FIFOs or sockets, so nothing moved out
 * of INTO can reach elsewhere.
 */
export async function unpackArchive(archive: string, kind: ArchiveKind, into: string, cap?: number): Promise<void> {
  const tool = await requireUnpacker(kind, archive)
  const limit = cap ?? (await unpackCap(archive))
  await checkListing(tool, archive, limit)
  await mkdir(into, {recursive: true})
  const unpacker = execa(tool.binary, tool.args(archive, into), {reject: false, stdin: 'ignore'})
  const overrun = await watchSize(into, limit, unpacker)
  const result = await unpacker
  if (overrun) {
    throw new BadArchive(
      `${archive}: unpacked past its cap of ${gib(limit)} although it declared less (an entry lies about its size); refused`,
    )
  }
  if (result.failed) {
    const lines = `${result.stderr}\n${result.stdout}`.split('\n').map((l) => l.trim())
    const line =
      lines.find((l) => LOCAL_TROUBLE.test(l)) ??
      lines.find((l) => /error|cannot|unexpected|corrupt|dangerous/i.test(l))
    const Failure = line && LOCAL_TROUBLE.test(line) ? UserError : BadArchive
    throw new Failure(`${archive}: ${tool.binary} could not unpack it (${line ?? `exit code ${result.exitCode}`})`)
  }
  await requirePlainTree(into, archive)
}

const ONLY_PLAIN = 'refused (archives may hold only files and folders)'

/** The most an archive may unpack to: its own size times this, plus UNPACK_SLACK (a zip or tar bomb is far above). */
const UNPACK_RATIO = 20
const UNPACK_SLACK = 2 ** 30
/** And never more than this, whatever the archive's size (the largest dataset archive unpacks to under 8 GB). */
const MAX_UNPACKED = 64 * 2 ** 30

/**
 * Reads the archive's listing before anything is unpacked, as it arrives, and refuses (stopping the lister at once)
 * an entry that is a link or a special file, has an absolute name or a `..` step, or brings the declared total
 * past the cap: a bomb is refused on its first headers, before anything is written.
 */
async function checkListing(tool: Tool, archive: string, cap: number): Promise<void> {
  const lister = execa(tool.binary, tool.list(archive), {
    reject: false,
    stdin: 'ignore',
    buffer: false,
    stderr: 'ignore',
  })
  let total = 0
  try {
    for await (const entry of tool.entries(createInterface({input: lister.stdout!, crlfDelay: Infinity}))) {
      // tar names a link's target after its name; zip and 7z keep it in the entry's data
      const [name, target] = entry.name.split(/ (?:->|link to) /, 2)
      if (path.isAbsolute(name) || /^[A-Za-z]:/.test(name))
        throw new BadArchive(`${archive}: holds ${name}, an absolute path; refused`)
      if (name.split(/[\\/]/).includes('..'))
        throw new BadArchive(`${archive}: holds ${name}, a path that climbs out with ..; refused`)
      if (entry.type === 'l')
        throw new BadArchive(`${archive}: holds a symbolic link ${name}${target ? ` -> ${target}` : ''}; ${ONLY_PLAIN}`)
      if (entry.type === 'h') throw new BadArchive(`${archive}: holds a hard link ${name}; ${ONLY_PLAIN}`)
      if (entry.type !== '-' && entry.type !== 'd')
        throw new BadArchive(`${archive}: holds ${name}, a device, FIFO or socket; refused`)
      total += entry.size
      if (total > cap) {
        throw new BadArchive(
          `${archive}: would unpack to more than ${gib(cap)} (${gib(total)} declared so far; the cap is ${UNPACK_RATIO}x the archive + ${UNPACK_SLACK / 2 ** 30} GiB, at most ${MAX_UNPACKED / 2 ** 30} GiB); refused`,
        )
      }
    }
  } finally {
    lister.kill()
    await lister
  }
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`

const unpackCap = async (archive: string) =>
  Math.min(MAX_UNPACKED, UNPACK_RATIO * (await stat(archive)).size + UNPACK_SLACK)

/**
 * Stops the unpacker once INTO holds more than CAP bytes: a zip entry may inflate past the size its headers declare,
 * which the listing cannot see. The file system's free space, read every quarter second, is the cheap sign; the
 * folder's own size confirms it (other writers on the same disk must not stop an honest archive). True if stopped.
 */
async function watchSize(into: string, cap: number, unpacker: {kill(): boolean} & Promise<unknown>): Promise<boolean> {
  const free = async () => {
    const fs = await statfs(into)
    return fs.bavail * fs.bsize
  }
  const start = await free()
  let running = true
  void unpacker.finally(() => (running = false))
  while (running) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    if (running && start - (await free()) > cap && (await treeSize(into)) > cap) {
      unpacker.kill()
      return true
    }
  }
  return false
}

async function treeSize(root: string): Promise<number> {
  let total = 0
  for (const entry of await readdir(root, {recursive: true, withFileTypes: true}))
    if (entry.isFile()) total += (await lstat(path.join(entry.parentPath ?? entry.path, entry.name))).size
  return total
}

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
      } else if (!info.isFile())
        throw new BadArchive(`${archive}: holds ${relative}, a device, FIFO or socket; refused`)
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
