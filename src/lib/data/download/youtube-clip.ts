import {mkdir, readdir, rename, rm} from 'node:fs/promises'
import path from 'node:path'
import {execa} from 'execa'
import {probeMedia, runTool} from '../../util/ffmpeg.js'
import {frameTimes} from '../../image/frames.js'
import {removeOnExit} from '../../util/atomic-write.js'
import {UserError} from '../../util/errors.js'
import {clipPath, framePath, FRAME_SUFFIXES} from '../download-layout.js'

/** One AudioSet-style segment to fetch: a YouTube video and the part of it that is the clip. */
export interface ClipJob {
  /** The clip's id in the index (the YouTube id, or `ytid_start` when one video gives two clips). */
  id: string
  url: string
  start: number
  end: number
  /** Download-layout root and chunk folder the clip goes to. */
  root: string
  chunk: string
}

/** The folder of ROOT where clips are put together before they are renamed into the layout. */
export const SCRATCH = '.download'

export type ClipResult = {status: 'done'; frames: number} | {status: 'unavailable' | 'failed'; reason: string}

/** yt-dlp's words for a video that is gone for good (removed, private, blocked, age-gated, not there). */
const GONE =
  /video unavailable|private video|has been removed|is not available|no longer available|account .*terminated|copyright|in your country|geo.?restrict|confirm your age|members.only|HTTP Error 40[14]|HTTP Error 410|unsupported url|does not exist/i

/** yt-dlp's first ERROR line, without its advice to report a bug. */
function ytdlpReason(stderr: string, exitCode: number | undefined): string {
  const line = stderr.split('\n').find((l) => l.startsWith('ERROR:'))
  if (!line) return `yt-dlp failed with exit code ${exitCode}`
  return line
    .replace(/^ERROR:\s*/, '')
    .replace(/\s*\(caused by .*$/, '')
    .replace(/;\s*please report this issue.*$/, '')
    .trim()
}

export interface ClipTools {
  ytdlp: string
  /** Seconds without data before yt-dlp gives up a connection; its own retries handle the rest. */
  timeoutS: number
  retries: number
}

/**
 * Fetches the video with yt-dlp (the original's format choice, `bestvideo[ext=mp4]+bestaudio[ext=m4a]`,
 * else the best single file), then cuts the clip as docs/method.md §2.1 has it: the segment clamped to the video,
 * re-encoded to MP3 at the native rate (ffmpeg's defaults, nothing resampled), and 4 frames at
 * start + i (end - start) / 3, each by its own `ffmpeg -ss t -frames:v 1 -q:v 1`. The work happens in a
 * scratch folder; frames then the audio are renamed into place, so a clip whose MP3 exists is complete.
 */
export async function fetchClip(job: ClipJob, tools: ClipTools): Promise<ClipResult> {
  const work = path.join(job.root, SCRATCH, job.id)
  await rm(work, {recursive: true, force: true})
  await mkdir(work, {recursive: true})
  const release = removeOnExit(work)
  try {
    const fetched = await execa(
      tools.ytdlp,
      [
        '--no-playlist',
        '--no-progress',
        '--no-part',
        '--quiet',
        '--no-warnings',
        '-f',
        'bestvideo[ext=mp4]+bestaudio[ext=m4a]/best',
        '--merge-output-format',
        'mp4',
        '--socket-timeout',
        String(tools.timeoutS),
        '--retries',
        String(tools.retries),
        '-o',
        path.join(work, 'video.%(ext)s'),
        job.url,
      ],
      {reject: false, stdin: 'ignore'},
    )
    if (fetched.failed) {
      const reason = ytdlpReason(fetched.stderr, fetched.exitCode)
      return {status: GONE.test(reason) ? 'unavailable' : 'failed', reason}
    }
    const video = (await readdir(work)).find((name) => name.startsWith('video.'))
    if (!video) return {status: 'failed', reason: 'yt-dlp reported success but wrote no file'}
    return await cut(job, path.join(work, video), work)
  } catch (error) {
    // A video ffmpeg cannot read is this clip's problem, not the run's.
    if (error instanceof UserError) return {status: 'failed', reason: error.message}
    throw error
  } finally {
    await rm(work, {recursive: true, force: true})
    release()
  }
}

async function cut(job: ClipJob, video: string, work: string): Promise<ClipResult> {
  const info = await probeMedia(video)
  const duration = info.duration ?? Number.POSITIVE_INFINITY
  const start = Math.max(0, job.start)
  const end = Math.min(duration, job.end)
  if (!(end > start))
    return {
      status: 'unavailable',
      reason: `the video lasts ${duration.toFixed(2)} s: nothing of the segment [${job.start}, ${job.end}]`,
    }
  if (!info.streams.some((s) => s.type === 'audio')) return {status: 'unavailable', reason: 'the video has no audio'}
  const audio = path.join(work, 'clip.mp3')
  await runTool(
    'ffmpeg',
    [
      '-nostdin',
      '-v',
      'error',
      '-y',
      '-i',
      video,
      '-vn',
      '-af',
      `atrim=start=${start}:end=${end},asetpts=PTS-STARTPTS`,
      '-c:a',
      'libmp3lame',
      audio,
    ],
    video,
  )
  let frames = 0
  const hasVideo = info.streams.some((s) => s.type === 'video')
  for (const [i, time] of (hasVideo ? frameTimes(start, end, FRAME_SUFFIXES.length) : []).entries()) {
    const frame = path.join(work, `frame${i}.jpg`)
    // A frame past the last picture (t = end of the video) is simply missing, as in the original.
    await runTool(
      'ffmpeg',
      ['-nostdin', '-v', 'error', '-y', '-ss', time.toFixed(6), '-i', video, '-frames:v', '1', '-q:v', '1', frame],
      video,
    )
    const target = framePath(job.root, job.chunk, job.id, FRAME_SUFFIXES[i])
    await mkdir(path.dirname(target), {recursive: true})
    if (
      await rename(frame, target).then(
        () => true,
        () => false,
      )
    )
      frames++
  }
  const target = clipPath(job.root, job.chunk, job.id)
  await mkdir(path.dirname(target), {recursive: true})
  await rename(audio, target)
  return {status: 'done', frames}
}
