import path from 'node:path'
import {readCsvRows} from '../csv.js'
import {ClipFinder, CLIP_SUFFIX} from '../download-layout.js'
import {indexRow, type DatasetSource, type IndexRow} from '../index-row.js'
import {firstLine} from '../lines.js'
import {isDir, isFile, requireDir, requireFile} from '../paths.js'
import {chooseSplits, splitOfFile, type SplitFile, type SplitLayout} from '../splits.js'
import {uniqueIds} from '../unique-ids.js'
import {isJsonLines, locateSrcRecord, readSrcIndex} from '../vipant-index.js'

/** AudioCaps clips are 10 s segments of a YouTube video starting at start_time. */
const CLIP_SECONDS = 10
const HEADER = ['audiocap_id', 'youtube_id', 'start_time', 'caption']
const SRC_PREFIX = 'src_audiocaps_'

/** The official CSV of a split, in DIR or in DIR/v1 as the cdjkim/audiocaps repository has it. */
function officialCsv(dir: string, split: string): string | undefined {
  return [path.join(dir, `${split}.csv`), path.join(dir, 'v1', `${split}.csv`)].find(
    (file) => isFile(file) && firstLine(file).startsWith(HEADER[0]),
  )
}

const layout: SplitLayout = {
  dataset: 'audiocaps',
  splits: ['train', 'val', 'test'],
  expected: (split) => `${split}.csv, v1/${split}.csv or ${SRC_PREFIX}${split}.csv`,
  find: (dir, split) => {
    const src = path.join(dir, `${SRC_PREFIX}${split}.csv`)
    return officialCsv(dir, split) ?? (isFile(src) ? src : undefined)
  },
}

/** A clip before its id is settled: ids need every clip of the run to be known. */
interface Clip {
  ytid: string
  start: number
  end: number
  split: string
  captions: string[]
  /** Set for VIP-ANT index records, whose location is given; official CSV clips are looked up. */
  located?: Pick<IndexRow, 'path' | 'status' | 'frames'>
}

/** Official CSV rows grouped into clips by (youtube_id, start_time), in first-appearance and file order. */
async function officialClips(file: string, split: string): Promise<Clip[]> {
  const clips = new Map<string, Clip>()
  for await (const row of readCsvRows(file, HEADER)) {
    const ytid = row.text('youtube_id')
    const start = row.number('start_time')
    const key = `${ytid} ${start}`
    let clip = clips.get(key)
    if (!clip) clips.set(key, (clip = {ytid, start, end: start + CLIP_SECONDS, split, captions: []}))
    clip.captions.push(row.text('caption'))
  }
  return [...clips.values()]
}

async function srcClips(file: string, split: string, root: string): Promise<Clip[]> {
  const clips: Clip[] = []
  for await (const record of readSrcIndex(file)) {
    const {id: ytid, start, end, captions} = record
    clips.push({ytid, start, end, split, captions: captions ?? [], located: locateSrcRecord(root, record)})
  }
  return clips
}

export const audiocaps: DatasetSource = {
  description: 'AudioCaps: 10 s AudioSet clips with human captions (1 per train clip, 5 per val/test clip)',
  layout: `DIR/{train,val,test}.csv or DIR/v1/... (audiocap_id,youtube_id,start_time,caption) or VIP-ANT's DIR/${SRC_PREFIX}<split>.csv; audio {ytid}.* in DIR/audio or DIR, or DIR/<chunk>/aclip/{ytid}.${CLIP_SUFFIX}`,
  options: ['split', 'audioDir', 'csv'],
  detect: (dir) => layout.splits.some((split) => layout.find(dir, split) !== undefined),
  async *rows(dir, options) {
    const files: SplitFile[] =
      options.csv === undefined
        ? chooseSplits(layout, dir, options.split)
        : [
            {
              file: requireFile(options.csv, 'AudioCaps metadata'),
              split: options.split ?? splitOfFile(options.csv, SRC_PREFIX),
            },
          ]
    const audioDir = options.audioDir === undefined ? undefined : requireDir(options.audioDir)
    let clips: Clip[] = []
    for (const {split, file} of files) {
      clips = clips.concat(
        isJsonLines(file) ? await srcClips(file, split, audioDir ?? dir) : await officialClips(file, split),
      )
    }
    // A YouTube id is the clip id unless the same video gives two clips; then the start time tells them apart.
    const ids = uniqueIds(
      clips.map((clip) => clip.ytid),
      clips.map((clip) => `${clip.ytid}_${clip.start}`),
    )
    // Official CSVs say nothing of where the audio is: downloaded clips are looked up by name.
    const roots = audioDir === undefined ? [path.join(dir, 'audio'), dir] : [audioDir]
    const expectedDir = roots.find(isDir) ?? dir
    let finder: ClipFinder | undefined
    for (const [i, clip] of clips.entries()) {
      const id = ids[i]
      let located = clip.located
      if (!located) {
        finder ??= new ClipFinder(roots)
        const found = finder.find(id) ?? finder.find(clip.ytid)
        located = found
          ? {path: found.path, status: 'ok', frames: found.frames}
          : {path: path.join(expectedDir, `${id}.${CLIP_SUFFIX}`), status: 'missing', frames: null}
      }
      yield indexRow({
        id,
        dataset: 'audiocaps',
        ...located,
        split: clip.split,
        captions: clip.captions,
        start: clip.start,
        end: clip.end,
      })
    }
  },
}
