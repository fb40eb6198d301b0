/**
 * Mel front end throughput: decode a WAV and compute VIP-ANT's Kaldi fbank (docs/method.md §3.4), in seconds of audio per second,
 * on the real UrbanSound8K fold 10 clips (837 × 4 s at 22.05 kHz), against torchaudio on the same clips in the same
 * run. Contenders take turns pass by pass, so that a change in machine load hits all of them alike.
 */
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {decodeWav} from '../src/lib/audio/wav.js'
import {kaldiFbank} from '../src/lib/audio/kaldi-fbank.js'
import {pythonProcess} from './python-process.js'
import type {Benchmark, Measurement} from './run.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const FOLD = path.join(repoRoot, '..', 'shared', 'data', 'us8k', 'audio', 'fold10')
const TORCHAUDIO_SCRIPT = path.join(repoRoot, 'bench', 'torchaudio_fbank.py')
const VIPANT = path.join(repoRoot, 'bin', 'vipant.js')
const RUNS = 3

/** One way of turning the clips into log-mels. */
interface Contender {
  /** Short name for messages before warmUp has given the full one. */
  label: string
  /** Untimed first pass (JIT, page cache, plans); resolves to the seconds of audio in one pass. */
  warmUp(): Promise<{name: string; work: number}>
  /** One timed pass over all clips, in wall-clock seconds. */
  pass(): Promise<number>
  close(): void
}

/** vipant in this process, on its one JS thread: read + decodeWav + kaldiFbank with VIP-ANT's defaults. */
function vipantInProcess(paths: string[]): Contender {
  const onePass = () => {
    let audioS = 0
    for (const file of paths) {
      const {sampleRate, channels} = decodeWav(readFileSync(file), file)
      kaldiFbank(channels[0], sampleRate)
      audioS += channels[0].length / sampleRate
    }
    return audioS
  }
  return {
    label: 'vipant',
    warmUp: async () => ({name: 'vipant decodeWav + kaldiFbank (1 thread)', work: onePass()}),
    pass: async () => {
      const start = process.hrtime.bigint()
      onePass()
      return Number(process.hrtime.bigint() - start) / 1e9
    },
    close: () => {},
  }
}

/**
 * What a user gets: `vipant mel DIR --workers N` as a process, start-up, decoding, the whole §3 pipeline
 * (crop, pad, normalise) and the Arrow output included.
 */
function vipantCli(dir: string, workers: number, audioS: () => number): Contender {
  const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'vipant-bench-')), 'mel.arrows')
  const onePass = () => {
    const start = process.hrtime.bigint()
    const r = spawnSync(process.execPath, [VIPANT, 'mel', dir, '--workers', String(workers), '-o', out], {encoding: 'utf8'})
    if (r.status !== 0) throw new Error(r.stderr.trim().split('\n').pop())
    return Number(process.hrtime.bigint() - start) / 1e9
  }
  return {
    label: `vipant mel --workers ${workers}`,
    warmUp: async () => {
      onePass()
      return {name: `vipant mel CLI, --workers ${workers}`, work: audioS()}
    },
    pass: async () => onePass(),
    close: () => rmSync(path.dirname(out), {recursive: true, force: true}),
  }
}

/** bench/torchaudio_fbank.py kept running, driven one pass at a time over its stdin. */
function torchaudioProcess(paths: string[]): Contender {
  const python = pythonProcess(TORCHAUDIO_SCRIPT)
  return {
    label: 'torchaudio',
    warmUp: async () => {
      python.send(paths.join('\n') + '\n\n')
      const hello = await python.reply()
      return {name: `torchaudio ${hello.torchaudio} load + kaldi.fbank (1 thread)`, work: hello.audio_s as number}
    },
    pass: async () => {
      python.send('run\n')
      return (await python.reply()).run_s as number
    },
    close: python.close,
  }
}

export const mel: Benchmark = {
  name: 'mel',
  description:
    'WAV decode + Kaldi log-mel fbank (128 bins) in-process, the full `vipant mel` command by worker count, and torchaudio; ' +
    'seconds of audio per second, median of 3 after a warm-up',
  async run() {
    if (!existsSync(FOLD)) throw new Error(`the mel benchmark needs the UrbanSound8K clips in ${FOLD}`)
    const paths = readdirSync(FOLD)
      .filter((f) => f.endsWith('.wav'))
      .sort()
      .map((f) => path.join(FOLD, f))

    const inProcess = vipantInProcess(paths)
    const audioS = () => measurements[0].work
    const cli = [1, os.availableParallelism()].filter((n, i, all) => all.indexOf(n) === i).map((n) => vipantCli(FOLD, n, audioS))
    const contenders = [inProcess, ...cli, torchaudioProcess(paths)]
    const measurements: Measurement[] = []
    const unavailable: {name: string; reason: string}[] = []
    const running: {contender: Contender; measurement: Measurement}[] = []
    for (const contender of contenders) {
      try {
        const {name, work} = await contender.warmUp()
        const measurement = {name, runsS: [], work}
        measurements.push(measurement)
        running.push({contender, measurement})
      } catch (e) {
        unavailable.push({name: contender.label, reason: (e as Error).message})
        contender.close()
      }
    }
    for (let r = 0; r < RUNS; r++) {
      for (const {contender, measurement} of running) measurement.runsS.push(await contender.pass())
    }
    for (const {contender} of running) contender.close()

    return {
      unit: 'audio s/s',
      workload: `${paths.length} clips of us8k/audio/fold10, ${measurements[0].work.toFixed(0)} s of audio per pass`,
      measurements,
      unavailable,
    }
  },
}
