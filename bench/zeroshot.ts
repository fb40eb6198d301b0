/**
 * `vipant zeroshot` at ViT-B/32 size (random weights from a fixed seed: an audio tower of width 768 and 12 layers on
 * (1000, 128) log-mels, CLIP's text tower of width 512 and 12 layers, embeddings of 512) on ONNX Runtime, its default
 * engine: the command end to end over all of UrbanSound8K fold 10 (837 clips) and over its first 16 clips (sorted),
 * whose difference is the cost per clip without start-up; and how a clip's cost splits between WAV decode, log-mel,
 * the audio tower, the class prompts through the text tower and scoring, timed in this process on the 16 clips as the
 * command runs them (decode and log-mel on one thread, the towers on the command's embedder in batches of 8). The
 * command's mel stage runs in worker threads beside the towers: the end-to-end cost per clip against the parts' sum
 * says how much of decode and log-mel is hidden behind the towers.
 */
import {spawnSync} from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {startEmbedder} from '../src/cli/embedder.js'
import {decodeAudio, type DecodedAudio} from '../src/lib/audio/decode.js'
import {logMel} from '../src/lib/audio/log-mel.js'
import {DEFAULT_MEL} from '../src/lib/audio/mel-config.js'
import {DEFAULT_AUDIO_CONFIG} from '../src/lib/checkpoint/audio-config.js'
import {writeVipantCheckpoint} from '../src/lib/checkpoint/vipant-format.js'
import {
  classEmbeddings,
  classificationMetrics,
  classText,
  DEFAULT_PROMPT,
  scoreClips,
} from '../src/lib/eval/classification.js'
import type {Benchmark, Measurement} from './run.js'
import {randomTextWeights, randomWeights} from './towers.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const US8K = path.join(repoRoot, '..', 'shared', 'data', 'us8k')
const FOLD = 10
const VIPANT = path.join(repoRoot, 'bin', 'vipant.js')
const CLIPS = 16
/** The clips of fold 10 on disk. */
const FOLD_CLIPS = 837
/** The command's default batch size. */
const BATCH = 8
/** Timed passes: the cheap parts 3 (median), the audio tower 1, the command 1 each. */
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
  const [header, ...lines] = readFileSync(path.join(US8K, 'metadata', 'UrbanSound8K.csv'), 'utf8')
    .trim()
    .split(/\r?\n/)
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
    'vipant zeroshot at ViT-B/32 size (random weights) on ONNX Runtime over real clips: end to end and its parts, ' +
    'clips per minute (1 pass of each command, no warm-up; 1 of the audio tower and median of 3 for the rest, after a warm-up)',
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
    const home = path.join(tmp, 'home')
    process.env.VIPANT_HOME = home // the graphs this process builds serve the commands
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
          format: 'vipant',
          clip: text,
          audio: {weights: audio, config: DEFAULT_AUDIO_CONFIG},
          info: {source: {format: 'bench'}},
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

      // The command's own embedder, as it starts it: ONNX Runtime in one worker thread; the graphs it builds on the
      // first batch are cached under $VIPANT_HOME for the commands below.
      const {embedder, backend} = await startEmbedder({
        engine: 'onnx',
        run: ['audio', 'text'],
        model: checkpoint,
        clip: checkpoint,
        normalize: false,
      })
      let towerS: number
      let textS: number
      let scoreS: number
      let accuracy: number
      try {
        const batches = Array.from({length: Math.ceil(CLIPS / BATCH)}, (_, b) =>
          mels.slice(b * BATCH, (b + 1) * BATCH).map((m) => [m]),
        )
        let warm = true
        const tower = await timed(RUNS.tower, async () => {
          // The warm-up runs one batch (and builds the graph); the timed pass all of them, one after another.
          const out: Float32Array[] = []
          for (const rows of warm ? batches.slice(0, 1) : batches)
            out.push(...((await embedder.embed('audio', rows)) as Float32Array[]))
          warm = false
          return out
        })
        const audioEmb = tower.last
        towerS = row(`audio tower: ${backend}, batches of ${BATCH}`, tower.runsS)

        const prompts = meta.classes.map((name) => [classText(DEFAULT_PROMPT, name)])
        const text = await timed(RUNS.cheap, async () => (await embedder.embed('text', prompts)) as Float32Array[])
        textS = row(`text tower: ${prompts.length} class prompts once, shared by the ${CLIPS} clips`, text.runsS)

        const score = await timed(RUNS.cheap, async () => {
          const scores = scoreClips(audioEmb, classEmbeddings([text.last], false), false)
          return classificationMetrics(
            scores.map((s, i) => ({label: meta.labels[i], fold: FOLD, scores: s})),
            meta.classes.length,
          )
        })
        accuracy = score.last.accuracy
        scoreS = row('scoring: scoreClips + classificationMetrics', score.runsS)
      } finally {
        await embedder.close()
      }

      const zeroshotCommand = (dataDir: string, clips: number) =>
        timed(
          RUNS.command,
          async () => {
            const args = [
              VIPANT,
              'zeroshot',
              '--data',
              'us8k',
              dataDir,
              '--model',
              checkpoint,
              '--clip',
              checkpoint,
              '--classes',
              classesFile,
              '--engine',
              'onnx',
              '--json',
            ]
            const r = spawnSync(process.execPath, args, {
              encoding: 'utf8',
              maxBuffer: 64 << 20,
              env: {...process.env, VIPANT_HOME: home},
            })
            if (r.status !== 0) throw new Error(`vipant zeroshot failed: ${r.stderr.trim().split('\n').pop()}`)
            const report = JSON.parse(r.stdout) as {clips: {evaluated: number}; accuracy: number}
            if (report.clips.evaluated !== clips)
              throw new Error(`vipant zeroshot evaluated ${report.clips.evaluated} clips, not ${clips}`)
            return report
          },
          false,
        ) // a second run of the command would cost as much as the rest of the benchmark
      const small = await zeroshotCommand(dataset, CLIPS)
      const smallS = row(
        `end to end: vipant zeroshot --engine onnx, ${CLIPS} clips (start-up and loading included)`,
        small.runsS,
      )
      const full = await zeroshotCommand(US8K, FOLD_CLIPS)
      measurements.push({
        name: `end to end: vipant zeroshot --engine onnx, all ${FOLD_CLIPS} clips of fold ${FOLD}`,
        runsS: full.runsS,
        work: FOLD_CLIPS * 60,
      })
      const fullS = median(full.runsS)
      // The cost of one more clip: what the full fold took beyond the 16-clip run, per extra clip.
      const perClipS = (fullS - smallS * CLIPS) / (FOLD_CLIPS - CLIPS)
      const startupS = smallS * CLIPS - CLIPS * perClipS

      const parts = {decode: decodeS, mel: melS, audio_tower: towerS, text_prompts: textS, scoring: scoreS}
      const serial = decodeS + melS + towerS
      const hidden = Math.min(1, Math.max(0, (serial - perClipS) / (decodeS + melS)))
      const split = Object.entries(parts).map(([k, s]) => `${k} ${s.toFixed(4)} s`)
      return {
        unit: 'clips/min',
        workload:
          `UrbanSound8K fold ${FOLD}: all ${FOLD_CLIPS} clips, and the first ${CLIPS} (sorted), 4 s each; mel ${DEFAULT_MEL.maxLen} frames; ` +
          `${os.availableParallelism()} cores; ${backend}\n` +
          `cost per clip: ${perClipS.toFixed(3)} s (full fold ${fullS.toFixed(1)} s, less ${startupS.toFixed(1)} s of start-up and loading), ` +
          `against parts timed alone: ${split.join(', ')} (per clip; the text prompts' figure is per run spread over the 16 clips)\n` +
          `decode + log-mel hidden behind the towers: ${(100 * hidden).toFixed(0)}% (per-clip cost vs decode + mel + audio tower run one after another)`,
        measurements,
        unavailable: [],
        details: {
          clips: {parts: CLIPS, full: FOLD_CLIPS},
          backend,
          seconds_per_clip: {marginal: perClipS, ...parts},
          startup_s: startupS,
          full_fold_s: fullS,
          decode_mel_hidden: hidden,
          accuracy_in_process: accuracy,
          accuracy_command: full.last.accuracy,
        },
      }
    } finally {
      rmSync(tmp, {recursive: true, force: true})
    }
  },
}
