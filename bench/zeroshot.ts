/**
 * `vipant zeroshot` at ViT-B/32 size (random weights from a fixed seed: an audio tower of width 768 and 12 layers on
 * (1000, 128) log-mels, CLIP's text tower of width 512 and 12 layers, embeddings of 512): seconds per clip end to end
 * on a fixed set of real UrbanSound8K clips (the first 16 of fold 10, sorted), and how they split between WAV decode,
 * log-mel, the audio tower, the class prompts through the text tower and scoring. The parts are timed in this process
 * as the command runs them: decode and log-mel on one thread, the towers on the command's embedder (on wasm one worker
 * thread per core, the clips split across them); end to end is the command itself as a child process, start-up and
 * model loading included.
 */
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {startEmbedder} from '../src/cli/embedder.js'
import {decodeAudio, type DecodedAudio} from '../src/lib/audio/decode.js'
import {logMel} from '../src/lib/audio/log-mel.js'
import {DEFAULT_MEL} from '../src/lib/audio/mel-config.js'
import {DEFAULT_AUDIO_CONFIG} from '../src/lib/checkpoint/audio-config.js'
import {writeVipantCheckpoint} from '../src/lib/checkpoint/vipant-format.js'
import {classEmbeddings, classificationMetrics, classText, DEFAULT_PROMPT, scoreClips} from '../src/lib/eval/classification.js'
import type {Benchmark, Measurement} from './run.js'
import {randomTextWeights, randomWeights} from './towers.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const US8K = path.join(repoRoot, '..', 'shared', 'data', 'us8k')
const FOLD = 10
const VIPANT = path.join(repoRoot, 'bin', 'vipant.js')
const CLIPS = 16
/** Timed passes: the cheap parts 3 (median), the audio tower 1 (~40 s on 2 cores), the command 1. */
const RUNS = {cheap: 3, tower: 1, command: 1}

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9

/** `runs` timed passes, after an untimed warm-up unless `warmUp` is false. */
async function timed<T>(runs: number, pass: () => Promise<T>, warmUp = true): Promise<{runsS: number[]; last: T}> {
  let last = warmUp ? await pass() : (undefined as T)
  const runsS: number[] = []
  for (let r = 0; r < runs; r++) {
    const start = process.hrtime.bigint()
    last = await pass()
    runsS.push(seconds(start))
  }
  return {runsS, last}
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** The metadata rows of the chosen clips and the class names by classID, from UrbanSound8K.csv (no quoted fields). */
function us8kRows(files: string[]): {header: string; rows: string[]; labels: number[]; classes: string[]} {
  const [header, ...lines] = readFileSync(path.join(US8K, 'metadata', 'UrbanSound8K.csv'), 'utf8').trim().split(/\r?\n/)
  const columns = header.split(',')
  const [fileCol, classIdCol, classCol] = ['slice_file_name', 'classID', 'class'].map((c) => columns.indexOf(c))
  const byFile = new Map(lines.map((l) => [l.split(',')[fileCol], l]))
  const classes: string[] = []
  for (const l of lines) {
    const cells = l.split(',')
    classes[Number(cells[classIdCol])] = cells[classCol]
  }
  const rows = files.map((f) => {
    const row = byFile.get(f)
    if (!row) throw new Error(`${f} is not in UrbanSound8K.csv`)
    return row
  })
  return {header, rows, labels: rows.map((r) => Number(r.split(',')[classIdCol])), classes}
}

export const zeroshot: Benchmark = {
  name: 'zeroshot',
  description:
    'vipant zeroshot at ViT-B/32 size (random weights) on real clips: end to end and its parts, ' +
    'clips per minute (1 pass of the command, no warm-up; 1 of the audio tower and median of 3 for the rest, after a warm-up)',
  async run() {
    const foldDir = path.join(US8K, 'audio', `fold${FOLD}`)
    if (!existsSync(foldDir)) throw new Error(`the zeroshot benchmark needs the UrbanSound8K clips in ${foldDir}`)
    const files = readdirSync(foldDir)
      .filter((f) => f.endsWith('.wav'))
      .sort()
      .slice(0, CLIPS)
    const paths = files.map((f) => path.join(foldDir, f))
    const meta = us8kRows(files)

    const tmp = mkdtempSync(path.join(os.tmpdir(), 'vipant-bench-'))
    const checkpoint = path.join(tmp, 'vitb32')
    const dataset = path.join(tmp, 'us8k')
    mkdirSync(path.join(dataset, 'metadata'), {recursive: true})
    mkdirSync(path.join(dataset, 'audio', `fold${FOLD}`), {recursive: true})
    writeFileSync(path.join(dataset, 'metadata', 'UrbanSound8K.csv'), [meta.header, ...meta.rows].join('\n') + '\n')
    // The 16 clips hold 3 of the 10 classes; the command learns the rest of the names from a --classes file.
    const classesFile = path.join(tmp, 'classes.txt')
    writeFileSync(classesFile, meta.classes.join('\n') + '\n')
    for (const p of paths) symlinkSync(p, path.join(dataset, 'audio', `fold${FOLD}`, path.basename(p)))

    const measurements: Measurement[] = []
    const row = (name: string, runsS: number[]) => {
      measurements.push({name, runsS, work: CLIPS * 60})
      return median(runsS) / CLIPS
    }
    try {
      {
        const {audio} = randomWeights()
        const text = randomTextWeights()
        await writeVipantCheckpoint(checkpoint, {
          format: 'vipant', clip: text, audio: {weights: audio, config: DEFAULT_AUDIO_CONFIG}, info: {source: {format: 'bench'}},
        })
      }

      const decode = await timed(RUNS.cheap, async () => {
        const out: DecodedAudio[] = []
        for (const p of paths) out.push(await decodeAudio(p))
        return out
      })
      const decoded = decode.last
      const decodeS = row('decode: decodeAudio (1 thread)', decode.runsS)

      const mel = await timed(RUNS.cheap, async () =>
        decoded.map((a, i) => logMel(a.channels, a.sampleRate, DEFAULT_MEL, path.basename(files[i], '.wav')).mel),
      )
      const mels = mel.last
      const melS = row('mel: logMel (1 thread)', mel.runsS)

      // The command's own embedder: the best backend present, on wasm one worker thread per core.
      const {embedder, workers, backend} = await startEmbedder({run: ['audio', 'text'], model: checkpoint, clip: checkpoint, normalize: false})
      let towerS: number
      let textS: number
      let scoreS: number
      let accuracy: number
      try {
        const per = Math.ceil(CLIPS / workers)
        const chunks = Array.from({length: workers}, (_, w) => mels.slice(w * per, (w + 1) * per).map((m) => [m])).filter((c) => c.length)
        let warm = true
        const tower = await timed(RUNS.tower, async () => {
          // The warm-up sends one clip to each worker; the timed passes all clips, split across the workers.
          const batches = warm ? chunks.map((c) => c.slice(0, 1)) : chunks
          warm = false
          return (await Promise.all(batches.map((rows) => embedder.embed('audio', rows)))).flat() as Float32Array[]
        })
        const audioEmb = tower.last
        towerS = row(`audio tower: ${backend}, ${workers} worker thread${workers > 1 ? 's' : ''}, clips split across them`, tower.runsS)

        const prompts = meta.classes.map((name) => [classText(DEFAULT_PROMPT, name)])
        const text = await timed(RUNS.cheap, async () => (await embedder.embed('text', prompts)) as Float32Array[])
        textS = row(`text tower: ${prompts.length} class prompts once, shared by the ${CLIPS} clips`, text.runsS)

        const score = await timed(RUNS.cheap, async () => {
          const scores = scoreClips(audioEmb, classEmbeddings([text.last], false), false)
          return classificationMetrics(scores.map((s, i) => ({label: meta.labels[i], fold: FOLD, scores: s})), meta.classes.length)
        })
        accuracy = score.last.accuracy
        scoreS = row('scoring: scoreClips + classificationMetrics', score.runsS)
      } finally {
        await embedder.close()
      }

      const command = await timed(RUNS.command, async () => {
        const args = [VIPANT, 'zeroshot', '--data', 'us8k', dataset, '--model', checkpoint, '--clip', checkpoint, '--classes', classesFile, '--json']
        const r = spawnSync(process.execPath, args, {encoding: 'utf8', maxBuffer: 64 << 20})
        if (r.status !== 0) throw new Error(`vipant zeroshot failed: ${r.stderr.trim().split('\n').pop()}`)
        const report = JSON.parse(r.stdout) as {clips: {evaluated: number}; accuracy: number}
        if (report.clips.evaluated !== CLIPS) throw new Error(`vipant zeroshot evaluated ${report.clips.evaluated} clips, not ${CLIPS}`)
        return report
      }, false) // a second run of the command would cost as much as the rest of the benchmark
      const endToEndS = row(`end to end: vipant zeroshot --data us8k (${workers} worker threads, start-up and loading included)`, command.runsS)

      const parts = {decode: decodeS, mel: melS, audio_tower: towerS, text_prompts: textS, scoring: scoreS}
      const sum = Object.values(parts).reduce((a, b) => a + b, 0)
      const other = endToEndS - sum
      const share = (s: number) => `${((100 * s) / endToEndS).toFixed(1)}%`
      const split = Object.entries({...parts, other}).map(([k, s]) => `${k} ${s.toFixed(3)} s (${share(s)})`)
      return {
        unit: 'clips/min',
        workload:
          `the first ${CLIPS} clips of us8k/audio/fold${FOLD} (sorted), 4 s each; mel ${DEFAULT_MEL.maxLen} frames; ` +
          `${os.availableParallelism()} cores\nseconds per clip: end to end ${endToEndS.toFixed(3)} = ${split.join(', ')}` +
          `\n("other": the command's start-up, loading the towers into each worker, indexing and Arrow, less what its ` +
          `parallel mel stage saves over the 1-thread figures here)`,
        measurements,
        unavailable: [],
        details: {
          clips: CLIPS,
          workers,
          backend,
          seconds_per_clip: {end_to_end: endToEndS, ...parts, other},
          share_of_end_to_end: Object.fromEntries(Object.entries({...parts, other}).map(([k, s]) => [k, s / endToEndS])),
          accuracy_in_process: accuracy,
          accuracy_command: command.last.accuracy,
        },
      }
    } finally {
      rmSync(tmp, {recursive: true, force: true})
    }
  },
}
