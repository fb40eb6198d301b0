/**
 * What pre-training from an index of bare videos costs per clip before the first step (src/lib/train/frame-source.ts):
 * CPU seconds to cut a 10 s clip's 4 frames (ffprobe, one ffmpeg per frame, the JPEG decoded, CLIP preprocessing; a
 * whole process under /usr/bin/time, children included, the cost of a 1-clip run subtracted so start-up is left out)
 * at three resolutions, and to embed those 4 frames with the frozen image tower as the trainer does (PairModel
 * .embedFrozen in chunks of 16 on the active TensorFlow.js backend, in this process), tiny and ViT-B/32 (random
 * weights: the cost does not depend on them).
 */
import {spawnSync} from 'node:child_process'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {selectBackend} from '../src/lib/backend/index.js'
import {VisionTransformer} from '../src/lib/model/clip-vision.js'
import {ClipFrames} from '../src/lib/train/frame-source.js'
import {embedAll, PairModel, tensorValues} from '../src/lib/train/pair-model.js'
import {CLIP_SIZES, randomClip} from '../src/lib/train/random-clip.js'
import type {Benchmark, Measurement} from './run.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const VIDEO = (name: string) => path.join(repoRoot, '..', 'shared', 'data', 'video', name)
const PROBE = path.join(repoRoot, 'dist', 'bench', 'videoframes-probe.js')
const VIDEOS = [
  {name: '320x240 h264, 9.9 s', file: 'bbb_prog_10s.mp4'},
  {name: '640x360 h264, 9.6 s', file: 'chaplin_9.6s_h264_mp3.mp4'},
  {name: '1920x1080 h264, 10 s', file: 'synthetic_smpte_10s_aac.mp4'},
]
/** Clips per timed pass, runs per contender. */
const [CUT_CLIPS, EMBED_CLIPS, RUNS] = [8, {tiny: 16, 'vit-b32': 4}, 3]

/** CPU seconds (user + system, children included) of a probe process cutting `count` clips. */
function cutCpuS(file: string, count: number): number {
  const r = spawnSync('/usr/bin/time', ['-v', process.execPath, PROBE, file, String(count)], {encoding: 'utf8'})
  if (r.status !== 0) throw new Error(`probe ${file} ${count} failed:\n${r.stderr}`)
  const field = (name: string) => Number(new RegExp(`${name}: ([\\d.]+)`).exec(r.stderr)?.[1] ?? Number.NaN)
  return field('User time \\(seconds\\)') + field('System time \\(seconds\\)')
}

function cpuS(since: NodeJS.CpuUsage): number {
  const {user, system} = process.cpuUsage(since)
  return (user + system) / 1e6
}

export const videoframes: Benchmark = {
  name: 'videoframes',
  description: 'CPU per clip to cut 4 frames of a 10 s video and to embed them once with the frozen image tower',
  async run() {
    const measurements: Measurement[] = []
    for (const video of VIDEOS) {
      const runsS = Array.from({length: RUNS}, () => {
        const base = cutCpuS(VIDEO(video.file), 1)
        return cutCpuS(VIDEO(video.file), 1 + CUT_CLIPS) - base
      })
      measurements.push({name: `cut 4 frames, ${video.name}`, runsS, work: CUT_CLIPS})
    }
    const backend = await selectBackend()
    const frames = new ClipFrames(4, (line) => console.error(line), 1)
    let pixels: Float32Array[] = []
    for await (const cut of frames.each([{id: 'clip', videoPath: VIDEO(VIDEOS[1].file)}])) pixels = cut
    await frames.close()
    for (const size of ['tiny', 'vit-b32'] as const) {
      const model = new PairModel({}, {image: VisionTransformer.fromStateDict(randomClip(CLIP_SIZES[size], 1))}, 0)
      const items = Array.from({length: EMBED_CLIPS[size]}, () => pixels).flat()
      const embed = () => embedAll((chunk) => tensorValues(model.embedFrozen('image', chunk)), items)
      await embed()
      const runsS: number[] = []
      for (let run = 0; run < RUNS; run++) {
        const start = process.cpuUsage()
        await embed()
        runsS.push(cpuS(start))
      }
      model.dispose()
      measurements.push({name: `embed 4 frames, ${size} image tower`, runsS, work: EMBED_CLIPS[size]})
    }
    return {
      unit: 'clips per CPU s',
      workload:
        `"median s" is CPU seconds per pass: ${CUT_CLIPS} clips cut (one worker thread), or ${EMBED_CLIPS.tiny} (tiny) / ` +
        `${EMBED_CLIPS['vit-b32']} (ViT-B/32) clips' 4 frames embedded on ${backend.description}; ${RUNS} runs each`,
      measurements,
      unavailable: [],
      details: {
        cpuMsPerClip: Object.fromEntries(
          measurements.map((m) => [m.name, (1000 * [...m.runsS].sort((a, b) => a - b)[RUNS >> 1]) / m.work]),
        ),
      },
    }
  },
}
