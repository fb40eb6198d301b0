import {mkdir} from 'node:fs/promises'
import {existsSync} from 'node:fs'
import {Flags} from '../cli/oclif.js'
import {arg, requiredArg} from '../cli/args.js'
import {checkOutputs} from '../cli/outputs.js'
import {VipantCommand} from '../cli/base-command.js'
import {progress} from '../lib/util/progress.js'
import {shardFlag, shardInput} from '../cli/shard.js'
import {openTableOutput, writeAll} from '../lib/arrow/output.js'
import {
  clipSummaryLine,
  downloadForIndex,
  placedLine,
  type DownloadSummary,
} from '../lib/data/download/dataset-download.js'
import {indexTableInput} from '../lib/data/index-table.js'
import type {DatasetName, IndexRow} from '../lib/data/index-row.js'
import {DATASETS} from '../lib/data/ingest.js'
import {stderrReporter} from '../lib/net/reporter.js'
import {resolveShard} from '../lib/arrow/shard.js'
import {UserError} from '../lib/util/errors.js'
import {datasetHome} from '../lib/util/home.js'
import {plural} from '../lib/util/plural.js'
import {tableOutputFlag} from '../cli/flags.js'

export default class Fetch extends VipantCommand {
  static override summary =
    'Index a dataset on disk (downloading it first with --download): one row per clip, as an Arrow table'
  static override description = `Reads a dataset in its official layout and writes the index table (id, path, split/fold, label, class, captions, labels, start/end, frames, status, reason) that every later stage reads. Clips listed in the metadata whose file is not on disk become rows with status "missing"; YouTube clips a download found gone, status "unavailable" with the reason.

--download first gets what is not there yet, then indexes as above:
  esc50, us8k, clotho   the official archives (GitHub, Zenodo; Clotho v2.1 needs 7-Zip), resumed after an interruption, retried with backoff, size-checked, unpacked into DIR's official layout
  audioset, audiocaps   the metadata if DIR has none, then each clip the way VIP-ANT did: yt-dlp fetches the video, ffmpeg cuts the segment to <chunk>/aclip/<ytid>.p0.mp3 at the native rate and 4 frames to <chunk>/frame/<ytid>.p0.4_0{1..4}.jpg. Needs yt-dlp and ffmpeg. Gone videos are logged in DIR/download-log.jsonl and skipped by later runs, as are clips on disk; failed ones are tried again.

Sources: VIPANT_MIRROR (or "mirror" in $VIPANT_HOME/config.json) serves https://host/path as <mirror>/host/path; VIPANT_YOUTUBE_URL (default https://www.youtube.com/watch?v={id}); HTTPS_PROXY/HTTP_PROXY/NO_PROXY are honoured.

Datasets:
${Object.entries(DATASETS)
  .map(([name, d]) => `  ${name.padEnd(10)} ${d.description}\n  ${''.padEnd(10)} ${d.layout}`)
  .join('\n')}

Without DIR, the dataset is looked for (and downloaded) in $VIPANT_HOME/data/<dataset> (default ~/.cache/vipant/data). Model weights: vipant fetch model --help.`

  static override examples = [
    '<%= config.bin %> fetch esc50 ~/data/ESC-50 -o esc50.arrow',
    '<%= config.bin %> fetch us8k ~/data/UrbanSound8K | <%= config.bin %> mel -o us8k-mel.arrow',
    '<%= config.bin %> fetch clotho ~/data/clotho --split evaluation | <%= config.bin %> inspect',
    '<%= config.bin %> fetch audioset ~/data/audioset --split balanced_train_segments -o balanced.arrow',
    '<%= config.bin %> fetch folder ~/Music/field-recordings -o mine.arrow',
    '<%= config.bin %> fetch esc50 --download -o esc50.arrow',
    '<%= config.bin %> fetch audiocaps ~/data/audiocaps --download --split test --jobs 8 -o audiocaps-test.arrow',
    '<%= config.bin %> fetch audioset ~/data/audioset --download --split eval_segments --limit 100 --json -o eval.arrow',
    '<%= config.bin %> fetch audioset ~/data/audioset --download --shard 7/100 -o part-007.arrow   # task 7 of a 100-task job array',
  ]

  static override args = {
    dataset: requiredArg('dataset layout', Object.keys(DATASETS)),
    dir: arg('dataset directory (or a file, for "folder")'),
  }

  static override flags = {
    output: tableOutputFlag,
    split: Flags.string({
      description:
        'only this split (clotho: development|validation|evaluation; audiocaps: train|val|test; audioset: CSV stem)',
    }),
    csv: Flags.string({description: 'AudioSet/AudioCaps metadata file to read instead of those found in DIR'}),
    'audio-dir': Flags.string({description: "folder holding the audio files, if not the layout's default"}),
    ontology: Flags.string({description: 'AudioSet ontology.json (default DIR/ontology.json)'}),
    strict: Flags.boolean({description: 'fail when a listed clip is missing on disk'}),
    download: Flags.boolean({description: 'download what is not on disk yet (see above), then index'}),
    limit: Flags.integer({
      description: 'audioset/audiocaps --download: attempt at most N clips this run',
      min: 0,
      dependsOn: ['download'],
    }),
    jobs: Flags.integer({
      description: 'audioset/audiocaps --download: clips fetched in parallel (default 4)',
      min: 1,
      dependsOn: ['download'],
    }),
    'retry-unavailable': Flags.boolean({
      description: 'audioset/audiocaps --download: try again clips an earlier run found gone',
      dependsOn: ['download'],
    }),
    json: Flags.boolean({
      description: 'print the download summary as JSON on stdout (the table then goes only to -o)',
      dependsOn: ['download'],
    }),
    shard: shardFlag,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Fetch)
    const dataset = args.dataset as DatasetName
    const dir = args.dir ?? datasetHome(dataset)
    // --download makes DIR anyway; made first, the index may be written into it (-o DIR/index.arrow).
    if (flags.download) await mkdir(dir, {recursive: true})
    checkOutputs({'-o': flags.output})
    const report = flags.download ? await this.download(dataset, dir, flags) : undefined
    if (!args.dir && !existsSync(dir)) {
      throw new UserError(
        `${dataset} is not in ${dir}: name its directory (vipant fetch ${dataset} DIR), or --download it`,
      )
    }
    const index = flags.json && !flags.output ? undefined : await this.index(dataset, dir, flags)
    if (report && flags.json) process.stdout.write(`${JSON.stringify({...report, index}, null, 2)}\n`)
  }

  private async download(
    dataset: DatasetName,
    dir: string,
    flags: {
      csv?: string
      split?: string
      'audio-dir'?: string
      limit?: number
      jobs?: number
      'retry-unavailable': boolean
      shard?: string
    },
  ): Promise<DownloadSummary> {
    const options = {
      split: flags.split,
      csv: flags.csv,
      audioDir: flags['audio-dir'],
      limit: flags.limit,
      jobs: flags.jobs,
      retryUnavailable: flags['retry-unavailable'],
      shard: resolveShard(flags.shard),
    }
    const summary = await downloadForIndex(dataset, dir, options, {
      file: (file) => stderrReporter(`downloading ${file.name}`),
      placed: (file) => process.stderr.write(`fetch ${dataset}: ${placedLine(file)}\n`),
      clips() {
        const bar = progress(`fetch ${dataset}`, undefined)
        return {onClip: (_id, outcome) => outcome !== 'present' && bar.tick({detail: outcome}), stop: () => bar.stop()}
      },
    })
    if (summary.clips) process.stderr.write(`fetch ${dataset}: ${clipSummaryLine(summary.clips)}\n`)
    return summary
  }

  private async index(
    dataset: DatasetName,
    dir: string,
    flags: {
      output?: string
      split?: string
      csv?: string
      'audio-dir'?: string
      ontology?: string
      strict: boolean
      shard?: string
    },
  ) {
    const options = {split: flags.split, csv: flags.csv, audioDir: flags['audio-dir'], ontology: flags.ontology}
    const input = shardInput('fetch', indexTableInput([{dataset, dir}], options, this.version), flags.shard)
    const bar = progress('indexing', undefined)
    const counts: Record<IndexRow['status'], number> = {ok: 0, missing: 0, unavailable: 0}
    async function* counted() {
      for await (const batch of input.batches) {
        const status = batch.getChild('status')!
        for (let i = 0; i < batch.numRows; i++) {
          const s = status.get(i) as IndexRow['status']
          counts[s]++
          if (s !== 'ok' && flags.strict) {
            throw new UserError(`${batch.getChild('path')!.get(i)}: listed in the metadata but not on disk (--strict)`)
          }
        }
        yield batch
        bar.tick({detail: `${counts.missing} missing`})
      }
    }
    try {
      await writeAll(openTableOutput(input.schema, flags.output), counted())
    } finally {
      bar.stop()
    }
    const missing = counts.missing > 0 ? `, ${counts.missing} missing on disk (status "missing")` : ''
    const gone = counts.unavailable > 0 ? `, ${counts.unavailable} unavailable (status "unavailable")` : ''
    process.stderr.write(
      `fetch ${dataset}: ${plural(counts.ok + counts.missing + counts.unavailable, 'clip')}, ${counts.ok} on disk${missing}${gone}\n`,
    )
    return counts
  }
}
