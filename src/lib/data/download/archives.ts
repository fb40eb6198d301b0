import {readFileSync, statSync} from 'node:fs'
import {copyFile, mkdir, readdir, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {netConfig, type NetConfig} from '../../net/config.js'
import {download, type DownloadOptions, type RemoteFile} from '../../net/download.js'
import {withFileLock} from '../../net/file-lock.js'
import {KnownSizes} from '../../net/known-sizes.js'
import {atomicWrite} from '../../util/atomic-write.js'
import {UserError} from '../../util/errors.js'
import {vipantHome} from '../../util/home.js'
import {isFile} from '../paths.js'
import {contentProblem, type ContentKind} from '../../net/content-check.js'
import {BadArchive, moveInto, requireUnpacker, unpackArchive, type ArchiveKind} from './unpack.js'

/** One published file of a dataset and how it becomes part of the official layout. */
export interface DatasetFile extends RemoteFile {
  name: string
  /** How to unpack it; a plain file is copied into DIR as it is. */
  kind: ArchiveKind | 'file'
  /** The archive's single top folder, whose contents go into DIR. */
  strip?: string
}

const ZENODO = 'https://zenodo.org/records'
const CLOTHO = `${ZENODO}/4783391/files` // Clotho v2.1 (development, validation, evaluation)
const clotho = (name: string, kind: DatasetFile['kind']): DatasetFile => ({name, url: `${CLOTHO}/${name}`, kind})

const AUDIOSET = 'https://storage.googleapis.com/us_ytid_labels'
const AUDIOCAPS = 'https://raw.githubusercontent.com/cdjkim/audiocaps/master/dataset'
const file = (name: string, url: string): DatasetFile => ({name, url, kind: 'file'})

/**
 * What `fetch DATASET --download` gets: the publishers' own archives (none states a checksum in its URL);
 * for the YouTube-based sets, the metadata (the clips themselves come from YouTube). AudioSet's unbalanced
 * segments (2 million clips) are left to --csv.
 */
export const DATASET_FILES = {
  esc50: [
    {
      name: 'ESC-50-master.zip',
      url: 'https://github.com/karolpiczak/ESC-50/archive/master.zip',
      kind: 'zip',
      strip: 'ESC-50-master',
    },
  ],
  us8k: [
    {
      name: 'UrbanSound8K.tar.gz',
      url: `${ZENODO}/1203745/files/UrbanSound8K.tar.gz`,
      kind: 'tar.gz',
      strip: 'UrbanSound8K',
    },
  ],
  clotho: [
    ...['development', 'validation', 'evaluation'].map((split) => clotho(`clotho_captions_${split}.csv`, 'file')),
    ...['development', 'validation', 'evaluation'].map((split) => clotho(`clotho_audio_${split}.7z`, '7z')),
  ],
  audioset: [
    ...['balanced_train_segments.csv', 'eval_segments.csv'].map((name) => file(name, `${AUDIOSET}/${name}`)),
    file('ontology.json', 'https://raw.githubusercontent.com/audioset/ontology/master/ontology.json'),
  ],
  audiocaps: ['train.csv', 'val.csv', 'test.csv'].map((name) => file(name, `${AUDIOCAPS}/${name}`)),
} satisfies Record<string, DatasetFile[]>

/** What each kind of published file must start with (the plain files are CSV and JSON). */
const CONTENT: Record<DatasetFile['kind'], ContentKind> = {zip: 'zip', 'tar.gz': 'gzip', '7z': '7z', file: 'text'}

export type DownloadableDataset = keyof typeof DATASET_FILES

export function isDownloadable(name: string): name is DownloadableDataset {
  return name in DATASET_FILES
}

/** Records, in DIR, which files are already unpacked there, so a rerun only does what is left. */
const MARKER = '.vipant-download.json'

function unpacked(dir: string): string[] {
  try {
    return (JSON.parse(readFileSync(path.join(dir, MARKER), 'utf8')) as {unpacked: string[]}).unpacked
  } catch {
    return []
  }
}

export interface DatasetDownloadOptions {
  net?: NetConfig
  /** A reporter per file (progress and retries). */
  report?: (file: DatasetFile) => Pick<DownloadOptions, 'onProgress' | 'onRetry'> & {stop(): void}
}

export interface DatasetDownloadResult {
  file: string
  action: 'downloaded' | 'already there'
  bytes: number
}

/**
 * Downloads a dataset's files into the cache ($VIPANT_HOME/downloads/DATASET), unpacks each into DIR in
 * the official layout (through a scratch folder, so a failed unpack leaves DIR as it was) and drops the
 * archive once unpacked.
 */
export async function downloadDataset(
  dataset: DownloadableDataset,
  dir: string,
  options: DatasetDownloadOptions = {},
): Promise<DatasetDownloadResult[]> {
  const net = options.net ?? netConfig()
  const cacheDir = path.join(vipantHome(), 'downloads')
  const sizes = new KnownSizes(cacheDir)
  await mkdir(dir, {recursive: true})
  const files = (DATASET_FILES[dataset] as DatasetFile[]).filter((file) => !unpacked(dir).includes(file.name))
  // Missing tools are found before gigabytes are fetched, not after.
  for (const file of files) if (file.kind !== 'file') await requireUnpacker(file.kind, `${dataset} (${file.name})`)
  const results: DatasetDownloadResult[] = (DATASET_FILES[dataset] as DatasetFile[])
    .filter((file) => !files.includes(file))
    .map((file) => ({file: file.name, action: 'already there', bytes: 0}))
  for (const file of files) {
    const remote = {...file, content: CONTENT[file.kind]}
    const cached = path.join(cacheDir, dataset, file.name)
    await mkdir(path.dirname(cached), {recursive: true})
    const report = options.report?.(file)
    let bytes: number
    try {
      // A complete archive from a run whose unpack failed for a local reason (a full disk) is not fetched again.
      bytes = await withFileLock(cached, async () =>
        (await reusable(remote, cached, sizes))
          ? statSync(cached).size
          : (await download(remote, cached, {net, sizes, ...report})).size,
      )
    } finally {
      report?.stop()
    }
    try {
      await place(file, cached, dir)
    } catch (error) {
      if (!(error instanceof BadArchive)) throw error
      await forgetBad(remote, cached, sizes)
      throw new UserError(`${error.message}; it was deleted from the cache`)
    }
    await atomicWrite(path.join(dir, MARKER), (temp) =>
      writeFile(temp, `${JSON.stringify({unpacked: [...unpacked(dir), file.name]}, null, 2)}\n`),
    )
    await rm(cached, {force: true})
    results.push({file: file.name, action: 'downloaded', bytes})
  }
  return results
}

/** Drops a cached file that turned out bad, and the size recorded from it, so neither is trusted again. */
async function forgetBad(file: DatasetFile, cached: string, sizes: KnownSizes): Promise<void> {
  await rm(cached, {force: true})
  await sizes.forget(file.url)
}

/** Whether the cache holds FILE already; a cached file that is not what it should be (an HTML page) is dropped. */
async function reusable(
  file: DatasetFile & {content: ContentKind},
  cached: string,
  sizes: KnownSizes,
): Promise<boolean> {
  if (!isFile(cached)) return false
  if (!(await contentProblem(cached, file.content))) return true
  await forgetBad(file, cached, sizes)
  return false
}

async function place(file: DatasetFile, cached: string, dir: string): Promise<void> {
  const scratch = path.join(dir, `.unpack-${file.name}`)
  await rm(scratch, {recursive: true, force: true})
  try {
    if (file.kind === 'file') {
      await mkdir(scratch)
      await copyFile(cached, path.join(scratch, file.name))
    } else {
      await unpackArchive(cached, file.kind, scratch)
    }
    const root = file.strip ? path.join(scratch, file.strip) : scratch
    const entries = await readdir(root).catch(() => undefined)
    if (!entries) throw new UserError(`${file.name}: expected a top folder ${file.strip} in the archive`)
    for (const name of entries) await moveInto(path.join(root, name), path.join(dir, name))
  } finally {
    await rm(scratch, {recursive: true, force: true})
  }
}
