import path from 'node:path'
import {isMediaFile, sortedEntries} from './media.js'
import {isDir, isFile} from './paths.js'

/**
 * VIP-ANT's AudioSet download layout (docs/method.md §2.1): `{root}/{chunk}/aclip/{ytid}.p0.mp3` and up to four frames
 * `{root}/{chunk}/frame/{ytid}.p0.4_0{1..4}.jpg`, where a chunk is a folder of ~35 000 videos.
 */
export const CLIP_SUFFIX = 'p0.mp3'
export const FRAME_SUFFIXES = ['p0.4_01.jpg', 'p0.4_02.jpg', 'p0.4_03.jpg', 'p0.4_04.jpg']

export function clipPath(root: string, chunk: string, ytid: string, suffix = CLIP_SUFFIX): string {
  return path.join(root, chunk, 'aclip', `${ytid}.${suffix}`)
}

export function framePath(root: string, chunk: string, ytid: string, suffix: string): string {
  return path.join(root, chunk, 'frame', `${ytid}.${suffix}`)
}

/** The frames that exist, sorted: a frame that failed to extract is simply absent. */
export function presentFrames(root: string, chunk: string, ytid: string, suffixes = FRAME_SUFFIXES): string[] {
  return suffixes
    .map((suffix) => framePath(root, chunk, ytid, suffix))
    .filter(isFile)
    .sort()
}

/** The id a downloaded file is for: YouTube ids have no dots, so it is the name up to the first one. */
function clipKey(name: string): string {
  const dot = name.indexOf('.')
  return dot < 0 ? name : name.slice(0, dot)
}

export interface FoundClip {
  path: string
  /** Frames beside the clip in the download layout; null for a clip found outside it. */
  frames: string[] | null
}

interface Location {
  /** Index into ClipFinder.dirs: one string per folder, not per clip, keeps millions of entries small. */
  dir: number
  name: string
  /** The download-layout root and chunk the clip was found in, when it was. */
  chunk?: {root: string; name: string}
}

/**
 * Where each downloaded clip is, from one scan of the roots: media files `{ytid}.*` directly in a root, and
 * `{root}/<chunk>/aclip/{ytid}.p0.*`. The first root, and the first name in order, wins.
 */
export class ClipFinder {
  private readonly dirs: string[] = []
  private readonly clips = new Map<string, Location>()

  constructor(roots: readonly string[]) {
    for (const root of roots) {
      if (!isDir(root)) continue
      this.add(root, (name) => isMediaFile(name))
      for (const chunk of sortedEntries(root)) {
        if (!chunk.isDirectory() && !chunk.isSymbolicLink()) continue
        const aclip = path.join(root, chunk.name, 'aclip')
        // Only the gold clip: aclip/ also holds the unused negative clips {ytid}.n0.mp3, {ytid}.n1.mp3.
        if (isDir(aclip))
          this.add(aclip, (name) => name.includes('.p0.') && isMediaFile(name), {root, name: chunk.name})
      }
    }
  }

  private add(dir: string, accept: (name: string) => boolean, chunk?: Location['chunk']): void {
    const index = this.dirs.push(dir) - 1
    for (const entry of sortedEntries(dir)) {
      if (!entry.isFile() && !entry.isSymbolicLink()) continue
      if (!accept(entry.name)) continue
      const key = clipKey(entry.name)
      if (!this.clips.has(key)) this.clips.set(key, {dir: index, name: entry.name, chunk})
    }
  }

  find(id: string): FoundClip | undefined {
    const clip = this.clips.get(id)
    if (!clip) return undefined
    return {
      path: path.join(this.dirs[clip.dir], clip.name),
      frames: clip.chunk ? presentFrames(clip.chunk.root, clip.chunk.name, id) : null,
    }
  }
}
