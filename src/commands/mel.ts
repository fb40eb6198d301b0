import os from 'node:os'
import {stat} from 'node:fs/promises'
import {Flags} from '../cli/oclif.js'
import {arg} from '../cli/args.js'
import {checkOutputs} from '../cli/outputs.js'
import {VipantCommand} from '../cli/base-command.js'
import {Failures} from '../cli/failures.js'
import {progress} from '../lib/util/progress.js'
import {shardFlag, shardInput} from '../cli/shard.js'
import {capWorkers} from '../cli/workers.js'
import {isArrowPath, openTableInput, type TableInput} from '../lib/arrow/input.js'
import {openTableOutput, writeAll} from '../lib/arrow/output.js'
import {DEFAULT_MEL, type MelConfig} from '../lib/audio/mel-config.js'
import type {TensorDtype} from '../lib/arrow/tensor.js'
import {melStage, melStageSchema, type ClipEvent} from '../lib/data/mel-stage.js'
import {readIndex} from '../lib/data/index-table.js'
import type {DatasetName} from '../lib/data/index-row.js'
import {DATASETS, detectDataset} from '../lib/data/ingest.js'
import {UserError} from '../lib/util/errors.js'
import {plural} from '../lib/util/plural.js'
import {tableOutputFlag} from '../cli/flags.js'

export default class Mel extends VipantCommand {
  static override summary = 'Kaldi log-mel features, exactly as VIP-ANT computed them'
  static override description = `Adds a "mel" column: a (max-len, 128) float32 log-mel per clip, computed like the original (torchaudio.compliance.kaldi.fbank at the file's native sample rate, 25 ms Hanning windows every 10 ms, 128 bins from 20 Hz to Nyquist), centre-cropped to max-len frames plus 50 ms, padded with 0 in the log domain, then normalised with VIP-ANT's (mean, std). Every other column passes through; rows keep their order.

INPUT is an index table (a file, "-", or stdin when piped), or directly a dataset directory, folder or media files, which are indexed as "vipant fetch" would. WAV is decoded in-process; MP3 through sox where it reads MP3 (libmad, as the original), else through ffmpeg laid out as sox's (the table's metadata says which); other formats (flac, ogg, m4a, video) through ffmpeg. A clip that cannot be decoded becomes a row with status "error" and the reason.`

  static override examples = [
    '<%= config.bin %> fetch esc50 ~/data/ESC-50 | <%= config.bin %> mel -o esc50-mel.arrow',
    '<%= config.bin %> mel ~/data/UrbanSound8K -o us8k-mel.arrow',
    '<%= config.bin %> mel clip1.wav clip2.mp3 --max-len 500 -o mine.arrow',
    '<%= config.bin %> mel index.arrow --max-len 1800 --workers 2 -o clotho18s.arrow',
    '<%= config.bin %> mel audioset.arrow --shard 3/100 -o mel-003.arrow   # or inside a Slurm array / Kubernetes Indexed Job',
  ]

  static override strict = false
  static override args = {input: arg('index table, dataset directory, or media files (default: stdin)')}

  static override flags = {
    output: tableOutputFlag,
    'max-len': Flags.integer({description: 'frames per clip (10 ms each)', default: DEFAULT_MEL.maxLen, min: 1}),
    crop: Flags.string({
      description: 'waveform crop for clips longer than max-len',
      options: ['center', 'random', 'none'],
      default: DEFAULT_MEL.crop,
    }),
    seed: Flags.integer({description: 'seed for --crop random', default: DEFAULT_MEL.seed}),
    normalize: Flags.boolean({
      description: 'normalise with --norms (--no-normalize keeps raw log-mels)',
      default: true,
      allowNo: true,
    }),
    norms: Flags.string({description: 'normalisation "mean,std"', default: DEFAULT_MEL.norms!.join(',')}),
    'zero-mean': Flags.boolean({
      description: 'subtract the waveform mean before fbank (zero_mean_wf)',
      default: DEFAULT_MEL.zeroMean,
      allowNo: true,
    }),
    workers: Flags.integer({
      description: `worker threads [default: one per core, ${os.availableParallelism()} here]`,
      min: 1,
    }),
    'batch-size': Flags.integer({description: 'rows per output batch', default: 16, min: 1}),
    frames: Flags.integer({
      description: 'add K video frames per clip as an "images" column for the image tower (CLIP preprocessing)',
      default: 0,
      min: 0,
    }),
    dataset: Flags.string({
      description: 'layout of a directory INPUT (default: detected)',
      options: Object.keys(DATASETS),
    }),
    dtype: Flags.string({
      description:
        'storage of the mel column: float16 halves the table, read back as float32 by every command (within 2^-11 relative)',
      options: ['float32', 'float16'],
      default: 'float32',
    }),
    strict: Flags.boolean({
      description: 'fail on the first clip that cannot be decoded (clips missing on disk are skipped and counted)',
    }),
    shard: shardFlag,
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Mel)
    checkOutputs({'-o': flags.output})
    const config: MelConfig = {
      maxLen: flags['max-len'],
      crop: flags.crop as MelConfig['crop'],
      seed: flags.seed,
      zeroMean: flags['zero-mean'],
      norms: flags.normalize ? parseNorms(flags.norms) : null,
    }
    const opened = await this.openInput(argv as string[], flags.dataset as DatasetName | undefined)
    const input = shardInput('mel', opened.input, flags.shard)
    // A worker holds a decoded clip and its fbank: tens of MB for a long clip.
    const workers = capWorkers('mel', flags.workers ?? os.availableParallelism(), 64 * 2 ** 20)
    const options = {
      config,
      workers,
      // `writeAll` asks for the next batch only once the last is written: the stage may reuse its memory.
      reuse: true,
      strict: flags.strict,
      batchSize: flags['batch-size'],
      frames: flags.frames,
      dtype: flags.dtype as TensorDtype,
    }
    const schema = melStageSchema(input.schema, options, this.version)

    const counts = {ok: 0, missing: 0, error: 0, seconds: 0}
    const failures = new Failures()
    // A listed folder or dataset has a known clip count (a shard's share is not known before it is read).
    const bar = progress('mel', input === opened.input ? opened.rows : undefined)
    const started = performance.now()
    try {
      const onClip = (e: ClipEvent) => {
        counts[e.status]++
        counts.seconds += e.duration
        failures.note(e)
        bar.tick({detail: `${counts.seconds.toFixed(0)} s of audio, ${plural(counts.error, 'error')}`})
      }
      await writeAll(openTableOutput(schema, flags.output), melStage(input, schema, {...options, onClip}))
    } finally {
      bar.stop()
    }
    const wall = (performance.now() - started) / 1000
    const total = counts.ok + counts.missing + counts.error
    process.stderr.write(
      `mel: ${plural(total, 'clip')} (${counts.ok} ok, ${counts.missing} missing, ${plural(counts.error, 'error')}), ` +
        `${counts.seconds.toFixed(1)} s of audio in ${wall.toFixed(1)} s (${(counts.seconds / wall).toFixed(0)}x realtime), ` +
        `peak memory ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB\n`,
    )
    const failed = failures.line('mel')
    if (failed) process.stderr.write(`${failed}\n`)
  }

  private async openInput(
    paths: string[],
    dataset: DatasetName | undefined,
  ): Promise<{input: TableInput; rows?: number}> {
    if (paths.length === 0 || (paths.length === 1 && paths[0] === '-')) return {input: await openTableInput(paths[0])}
    if (paths.length === 1 && (await isArrowPath(paths[0]))) return {input: await openTableInput(paths[0])}
    const sources = await Promise.all(
      paths.map(async (p) => {
        const info = await stat(p).catch(() => {
          throw new UserError(`${p}: no such file or directory`)
        })
        if (!info.isDirectory()) {
          if (await isArrowPath(p))
            throw new UserError(`${p}: one Arrow table at a time (merge tables with vipant concat)`)
          return {dataset: 'folder' as DatasetName, dir: p}
        }
        return {dataset: dataset ?? detectDataset(p) ?? 'folder', dir: p}
      }),
    )
    return readIndex(sources, {}, this.version)
  }
}

function parseNorms(text: string): [number, number] {
  const parts = text.split(',').map(Number)
  if (parts.length !== 2 || parts.some((x) => !Number.isFinite(x)) || parts[1] === 0) {
    throw new UserError(`--norms: expected "mean,std" with std != 0, got "${text}"`)
  }
  return [parts[0], parts[1]]
}
