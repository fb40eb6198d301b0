/**
 * Mel front end throughput: decode a WAV and compute VIP-ANT's Kaldi fbank (docs/method.md §3.4), in seconds of audio per second,
 * on the real UrbanSound8K fold 10 clips (837 × 4 s at 22.05 kHz), against torchaudio on the same clips in the same
 * run. Contenders take turns pass by pass, so that a change in machine load hits all of them alike.
 *
 * Two comparisons: the inner loops (decode + fbank, in one warm process each), and what users feel: whole processes,
 * start-up included, `vipant mel DIR --workers N -o /dev/null` against bench/torchaudio_mel.py doing the same job,
 * pinned with taskset to core 0 (one worker, and the Python loop) or cores 0-1 (two workers).
 */
import {spawnSync, type SpawnSyncOptions} from 'node:child_process'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {decodeWav} from '../src/lib/audio/wav.js'
import {kaldiFbank} from '../src/lib/audio/kaldi-fbank.js'
import {median} from './median.js'
import {PYTHON, pythonProcess} from './python-process.js'
import type {Benchmark, Measurement} from './run.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const FOLD = path.join(repoRoot, '..', 'shared', 'data', 'us8k', 'audio', 'fold10')
const TORCHAUDIO_SCRIPT = path.join(repoRoot, 'bench', 'torchaudio_fbank.py')
const TORCHAUDIO_MEL_SCRIPT = path.join(repoRoot, 'bench', 'torchaudio_mel.py')
const VIPANT = path.join(repoRoot, 'bin', 'vipant.js')
const RUNS = 5
/** How many times the longer whole-process job lists the fold. */
const LONGER = 4
/**
 * Debian's torch links the reference BLAS, whose sgemm makes kaldi.fbank's mel product ~15x slower than any BLAS a
 * pip install of torch brings (MKL). Where Debian's OpenBLAS is installed, the Python processes load it instead, so that
 * vipant is compared with torchaudio as its users run it.
 */
const OPENBLAS_DIR = '/usr/lib/x86_64-linux-gnu/openblas-pthread'
const PYTHON_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  OMP_NUM_THREADS: '1',
  OPENBLAS_NUM_THREADS: '1',
  ...(existsSync(OPENBLAS_DIR)
    ? {LD_LIBRARY_PATH: [OPENBLAS_DIR, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':')}
    : {}),
}
const BLAS = existsSync(OPENBLAS_DIR) ? 'OpenBLAS' : 'reference BLAS'
/**
 * Node 20 loads the certificates NODE_EXTRA_CA_CERTS names before it runs any script: 50-60 ms of every start where
 * the variable is set (the machine of the committed figures sets it for its network proxy), none where it is not, as
 * on most machines. `vipant mel` opens no connection: its whole-process runs go without the variable, and the
 * workload line says whether it was set.
 */
const {NODE_EXTRA_CA_CERTS, ...NODE_ENV} = process.env
/** taskset from util-linux pins a process and its threads; without it the whole-process runs are not pinned. */
const TASKSET = spawnSync('taskset', ['-V']).status === 0

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

/** `cores` for taskset -c ("0", "0,1"), when taskset exists and the machine has that many cores. */
function pinned(cores: string, command: string, args: string[]): [string, string[]] {
  const usable = TASKSET && cores.split(',').every((c) => Number(c) < os.availableParallelism())
  return usable ? ['taskset', ['-c', cores, command, ...args]] : [command, args]
}

/**
 * A whole process per pass, start-up included, timed from spawn to exit: what a user gets from `vipant mel DIR
 * --workers N` (decoding, the whole §3 pipeline: crop, pad, normalise, and the Arrow output), or from
 * bench/torchaudio_mel.py doing the same job.
 */
function wholeProcess(
  label: string,
  name: string,
  argv: [string, string[]],
  audioS: () => number,
  options: SpawnSyncOptions = {},
): Contender & {cpuS: number[]} {
  const cpuS: number[] = []
  const onePass = () => {
    const start = process.hrtime.bigint()
    const cpuBefore = childrenCpuS()
    const r = spawnSync(argv[0], argv[1], {encoding: 'utf8', ...options})
    cpuS.push(childrenCpuS() - cpuBefore)
    if (r.status !== 0)
      throw new Error(
        String(r.stderr ?? r.error)
          .trim()
          .split('\n')
          .pop(),
      )
    return Number(process.hrtime.bigint() - start) / 1e9
  }
  return {
    label,
    cpuS,
    warmUp: async () => {
      onePass()
      cpuS.length = 0
      return {name, work: audioS()}
    },
    pass: async () => onePass(),
    close: () => {},
  }
}

/**
 * CPU seconds (user + system) of the children this process has waited for: fields cutime and cstime of
 * /proc/self/stat, in clock ticks (100 per second on Linux). A whole process's CPU time depends less on other jobs
 * than its wall-clock time does, so the benchmark reports both; 0 where /proc is missing.
 */
function childrenCpuS(): number {
  if (!existsSync('/proc/self/stat')) return 0
  const stat = readFileSync('/proc/self/stat', 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[13]) + Number(fields[14])) / 100
}

/** `vipant mel` over the fold, listed `times` over (start-up weighs less in a longer job). */
function vipantCli(dir: string, workers: number, cores: string, audioS: () => number, times = 1) {
  const dirs = Array<string>(times).fill(dir)
  const argv = pinned(cores, process.execPath, [
    VIPANT,
    'mel',
    ...dirs,
    '--workers',
    String(workers),
    '-o',
    '/dev/null',
  ])
  const where = argv[0] === 'taskset' ? `pinned to core${cores.includes(',') ? 's' : ''} ${cores}` : 'not pinned'
  const over = times > 1 ? `, the fold listed ${times} times` : ''
  return wholeProcess(
    `vipant mel --workers ${workers}${over}`,
    `vipant mel --workers ${workers}${over}, whole process, ${where}`,
    argv,
    () => times * audioS(),
    {env: NODE_ENV},
  )
}

function torchaudioCli(dir: string, cores: string, audioS: () => number) {
  const argv = pinned(cores, PYTHON, [TORCHAUDIO_MEL_SCRIPT, dir, '/dev/null'])
  const where = argv[0] === 'taskset' ? `pinned to core ${cores}` : 'not pinned'
  const name = `torchaudio_mel.py (torchaudio.load + kaldi.fbank + crop/pad/normalise, ${BLAS}), whole process, ${where}`
  return wholeProcess('torchaudio_mel.py', name, argv, audioS, {env: PYTHON_ENV})
}

/** bench/torchaudio_fbank.py kept running, driven one pass at a time over its stdin. */
function torchaudioProcess(paths: string[]): Contender {
  const python = pythonProcess(TORCHAUDIO_SCRIPT, PYTHON_ENV)
  return {
    label: 'torchaudio',
    warmUp: async () => {
      python.send(paths.join('\n') + '\n\n')
      const hello = await python.reply()
      return {
        name: `torchaudio ${hello.torchaudio} load + kaldi.fbank (1 thread, ${BLAS})`,
        work: hello.audio_s as number,
      }
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
    'WAV decode + Kaldi log-mel fbank (128 bins) in-process against torchaudio, then whole processes pinned to the same cores: ' +
    '`vipant mel DIR --workers N -o /dev/null` against a torchaudio script doing the same job, and one to two workers ' +
    `over the fold listed ${LONGER} times; ` +
    `seconds of audio per second, median of ${RUNS} after a warm-up, contenders interleaved pass by pass`,
  async run() {
    if (!existsSync(FOLD)) throw new Error(`the mel benchmark needs the UrbanSound8K clips in ${FOLD}`)
    const paths = readdirSync(FOLD)
      .filter((f) => f.endsWith('.wav'))
      .sort()
      .map((f) => path.join(FOLD, f))

    const inProcess = vipantInProcess(paths)
    const audioS = () => measurements[0].work
    const whole = [
      vipantCli(FOLD, 1, '0', audioS),
      vipantCli(FOLD, 2, '0,1', audioS),
      vipantCli(FOLD, 1, '0', audioS, LONGER),
      vipantCli(FOLD, 2, '0,1', audioS, LONGER),
      torchaudioCli(FOLD, '0', audioS),
    ]
    // The reference (the table's last row, ratio 1) is the whole torchaudio process on one core.
    const contenders: Contender[] = [inProcess, torchaudioProcess(paths), ...whole]
    const loadBefore = os.loadavg()
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

    const loadAfter = os.loadavg()
    const cpu = whole.filter((c) => c.cpuS.length > 0).map((c) => `${c.label} ${median(c.cpuS).toFixed(2)}`)
    // One worker to two, whole processes: the fold once, then listed LONGER times.
    const seconds = (label: string) => median(measurements.find((m) => m.name.startsWith(label))?.runsS ?? [NaN])
    const scaling = ['', `, the fold listed ${LONGER} times`].map(
      (over) => seconds(`vipant mel --workers 1${over},`) / seconds(`vipant mel --workers 2${over},`),
    )

    return {
      unit: 'audio s/s',
      workload:
        `${paths.length} clips of us8k/audio/fold10, ${measurements[0].work.toFixed(0)} s of audio per pass; ` +
        `load average ${loadBefore[0].toFixed(1)} before, ${loadAfter[0].toFixed(1)} after; ` +
        `vipant run without NODE_EXTRA_CA_CERTS (${NODE_EXTRA_CA_CERTS === undefined ? 'not set here' : 'set here'}); ` +
        `CPU s per whole-process pass (median, all threads): ${cpu.join(', ')}; ` +
        `1 -> 2 workers: ${scaling[0].toFixed(2)}x (${paths.length} clips), ${scaling[1].toFixed(2)}x (${LONGER * paths.length})`,
      measurements,
      unavailable,
      details: {
        loadAverage: {before: loadBefore, after: loadAfter},
        blas: BLAS,
        pinned: TASKSET,
        nodeExtraCaCertsSet: NODE_EXTRA_CA_CERTS !== undefined,
        python: PYTHON,
        // Wall-clock speed-up of `vipant mel` from one worker on one core to two on two: the fold, then the longer job.
        workerScaling: {
          clips: paths.length,
          speedup: scaling[0],
          longerClips: LONGER * paths.length,
          longerSpeedup: scaling[1],
        },
        // CPU seconds (user + system, every thread) of each whole-process pass, by contender.
        wholeProcessCpuS: Object.fromEntries(whole.map((c) => [c.label, c.cpuS])),
      },
    }
  },
}
