import {existsSync} from 'node:fs'
import {Flags} from '../cli/oclif.js'
import {arg} from '../cli/args.js'
import {checkOutputs} from '../cli/outputs.js'
import {VipantCommand} from '../cli/base-command.js'
import {defaultModel, engineFlags, startEmbedder} from '../cli/embedder.js'
import {Failures} from '../cli/failures.js'
import {htmlFlags} from '../cli/html.js'
import {progress, type Progress} from '../lib/util/progress.js'
import {applyOffline, offlineFlag} from '../cli/offline.js'
import {openTableInput, type TableInput} from '../lib/arrow/input.js'
import {requireRows} from '../lib/arrow/non-empty.js'
import {openTableOutput, writeAll} from '../lib/arrow/output.js'
import {DEFAULT_MEL, type MelConfig} from '../lib/audio/mel-config.js'
import {readIndex} from '../lib/data/index-table.js'
import type {DatasetName} from '../lib/data/index-row.js'
import {searchCaptions} from '../lib/eval/audio-search.js'
import {DEFAULT_CAPTION_PROMPT, evaluateRetrieval, ranksTable, searchClips} from '../lib/eval/retrieve.js'
import {
  renderCaptionSearchText,
  renderRetrievalJson,
  renderRetrievalText,
  renderSearchText,
  retrievalCoverageLine,
  searchCoverageLine,
} from '../lib/eval/retrieval-report.js'
import {writeHtml} from '../lib/html/write.js'
import {tallyIndex, type Listing} from '../lib/eval/zeroshot-input.js'
import {audioEmbeddings} from '../lib/model/audio-chain.js'
import type {Embedder} from '../lib/towers/embedder.js'
import type {TowerName} from '../lib/towers/towers.js'
import {UserError} from '../lib/util/errors.js'
import {datasetHome} from '../lib/util/home.js'
import {clipBatchSizeFlag, reportJsonFlag, textClipFlag, towerWorkersFlag} from '../cli/flags.js'

/** The split the paper's retrieval numbers are on. */
const DEFAULT_SPLIT: Record<string, string> = {clotho: 'evaluation', audiocaps: 'test'}

export default class Retrieve extends VipantCommand {
  static override summary =
    "Audio-text retrieval with the paper's protocol (AudioCaps, Clotho, or an embedded table), or search: clips by text, captions by audio"
  static override description = `With --data, runs the whole chain in one process: index the dataset's split (Clotho: evaluation, AudioCaps: test, or --split), log-mels, audio embeddings, caption embeddings, and the metrics of both directions.

Protocol: every clip must have exactly 5 captions (otherwise the clips that differ are named and nothing is computed); each caption is prefixed with the prompt and one space ("the sound of" by default, as the original; --prompt "" for none); audio and caption embeddings are L2-normalised and compared by dot product (cosine). Audio->text: each clip ranks the 5N captions, its rank is that of its best caption. Text->audio: each of the 5N captions ranks the N clips. Reported: R@1/5/10/50 (%), median and mean rank (1-based), mAP@10. Clips listed but not on disk are counted and reported, never silently dropped. For Clotho, --max-len 1000 is the paper's "10s" column and 1800 its "18s".

Without --data, the same protocol runs on a table that already carries audio_emb and captions (vipant fetch clotho DIR --split evaluation | vipant mel | vipant embed), embedding only the prompted captions.

With --query (repeatable), searches a table carrying audio_emb (a file, or stdin) and prints each query's top -k clips with their cosine scores. With --audio FILE, the other way: FILE through decode, log-mel and the audio tower, then the top -k captions of the table (as written, no prompt) by cosine; the table's text_emb is used when it has one, else the captions are embedded.

On a terminal the report is a table; with --json or when stdout is not a terminal it is JSON stating the protocol, the clip and caption counts, the checkpoints' sha256, the backend and max_len.`

  static override examples = [
    '<%= config.bin %> retrieve --data clotho ~/data/clotho --model vipant-clotho --max-len 1800',
    '<%= config.bin %> retrieve --data audiocaps --predictions ranks.arrow --json > audiocaps.json',
    '<%= config.bin %> fetch clotho ~/data/clotho --split evaluation | <%= config.bin %> mel | <%= config.bin %> embed --model vipant-clotho > clotho.arrow; <%= config.bin %> retrieve clotho.arrow --model vipant-clotho',
    '<%= config.bin %> mel mine/ | <%= config.bin %> embed --model vipant-audiocaps | <%= config.bin %> retrieve --model vipant-audiocaps --query "a dog barks" -k 5',
    '<%= config.bin %> retrieve clotho.arrow --model vipant-clotho --audio recording.wav -k 5',
  ]

  static override args = {
    input: arg(
      'with --data: the dataset directory (default $VIPANT_HOME/data/<name>); else a table with audio_emb (and captions to evaluate or for --audio; default stdin)',
    ),
  }

  static override flags = {
    data: Flags.string({
      description: 'evaluate this dataset, from audio to recall',
      options: ['audiocaps', 'clotho'],
      exclusive: ['query'],
    }),
    query: Flags.string({
      description: 'search the input table for this text (repeatable)',
      multiple: true,
      multipleNonGreedy: true,
    }),
    audio: Flags.string({
      description: "search the input table's captions for this audio file",
      exclusive: ['data', 'query'],
    }),
    k: Flags.integer({char: 'k', description: 'clips to show per --query, captions for --audio', default: 10, min: 1}),
    model: Flags.string({
      description:
        "audio tower: a path or a known name (needed with --audio; with --data, default: the released checkpoint behind the paper's number, vipant-clotho or vipant-audiocaps)",
    }),
    offline: offlineFlag,
    clip: textClipFlag,
    split: Flags.string({description: 'dataset split (default: clotho evaluation, audiocaps test)'}),
    prompt: Flags.string({
      description: 'prefix of every caption, joined with one space ("" for none)',
      default: DEFAULT_CAPTION_PROMPT,
    }),
    'max-len': Flags.integer({
      description: 'frames per clip (10 ms each) with --data and --audio: 1000 for "10s", 1800 for "18s"',
      default: DEFAULT_MEL.maxLen,
      min: 1,
    }),
    predictions: Flags.string({description: "write each query's rank here (Arrow: direction, query, id, text, rank)"}),
    json: reportJsonFlag,
    ...htmlFlags,
    'batch-size': clipBatchSizeFlag,
    workers: towerWorkersFlag,
    ...engineFlags,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Retrieve)
    checkOutputs({'--predictions': flags.predictions, '--html': flags.html})
    applyOffline(flags.offline)
    if (flags.data && !flags.model) flags.model = defaultModel('retrieve', flags.data)
    if (flags.audio && !flags.model) throw new UserError('--audio needs --model, the audio tower')
    if ((flags.query || flags.audio) && flags.predictions)
      throw new UserError('--predictions goes with an evaluation, not a search')
    const dataDir = flags.data ? (args.input ?? datasetHome(flags.data)) : undefined
    if (flags.data && !args.input && !existsSync(dataDir!)) {
      throw new UserError(
        `${flags.data} is not in ${dataDir}: put it there, or name its directory (vipant retrieve --data ${flags.data} DIR)`,
      )
    }
    const split = flags.data ? (flags.split ?? DEFAULT_SPLIT[flags.data]) : null

    // Opened (or the split listed) before the towers load, so that a bad input is reported at once.
    const input = flags.data
      ? undefined
      : await requireRows(await openTableInput(args.input), flags.query || flags.audio ? 'search' : 'evaluate')
    const index = flags.data
      ? await readIndex([{dataset: flags.data as DatasetName, dir: dataDir!}], {split: split!}, this.version)
      : undefined
    const run: TowerName[] = flags.data || flags.audio ? ['audio', 'text'] : ['text']
    // Retrieval is cosine: the audio tower normalises; captions are normalised when scored.
    const {embedder, workers, backend} = await startEmbedder({
      engine: flags.engine,
      backend: flags.backend,
      workers: flags.workers,
      run,
      model: flags.model ?? flags.clip,
      clip: flags.clip,
      normalize: true,
    })

    const bar = index ? progress('retrieve', index.present) : undefined
    const failures = new Failures()
    try {
      if (flags.query) {
        const search = await searchClips(input!, flags.query, flags.k, embedder)
        process.stderr.write(`retrieve: ${searchCoverageLine(search)}\n`)
        await writeHtml(flags.html, flags['html-copy'], {kind: 'clip-search', search, source: input!.source})
        process.stdout.write(
          flags.json || !process.stdout.isTTY ? renderRetrievalJson(search.results) : renderSearchText(search.results),
        )
        return
      }
      const mel = {...DEFAULT_MEL, maxLen: flags['max-len']}
      if (flags.audio) {
        const result = await searchCaptions(input!, flags.audio, flags.k, embedder, mel)
        await writeHtml(flags.html, flags['html-copy'], {kind: 'caption-search', result, source: input!.source})
        process.stdout.write(
          flags.json || !process.stdout.isTTY ? renderRetrievalJson(result) : renderCaptionSearchText(result),
        )
        return
      }
      // Without --data, the input table already carries audio_emb and captions.
      const {scored, listing} = flags.data
        ? this.chain(index!.input, mel, {embedder, workers, batchSize: flags['batch-size'], bar: bar!, failures})
        : {scored: input!, listing: null}
      const {report, ranks, clips, sim} = await evaluateRetrieval({
        scored,
        listing,
        dataset: flags.data ?? 'table',
        split,
        prompt: flags.prompt,
        maxLen: flags.data ? flags['max-len'] : null,
        embedder,
        backend,
        version: this.version,
      })
      bar?.stop()
      process.stderr.write(`retrieve: ${retrievalCoverageLine(report)}\n`)
      const failed = failures.line('retrieve')
      if (failed) process.stderr.write(`${failed}\n`)
      // An empty folder or table scores nothing: an empty report must not pass for a result in a script.
      if (report.clips.evaluated === 0)
        throw new UserError(`${flags.data ? dataDir : scored.source}: nothing to evaluate (no clip was scored)`)
      if (flags.predictions) {
        const table = ranksTable(
          ranks,
          {dataset: flags.data ?? 'table', split, prompt: flags.prompt, scoring: 'cosine'},
          this.version,
        )
        await writeAll(openTableOutput(table.schema, flags.predictions), table.batches)
        process.stderr.write(`retrieve: wrote ${flags.predictions}\n`)
      }
      await writeHtml(flags.html, flags['html-copy'], {kind: 'retrieval', report, ranks, clips, sim})
      process.stdout.write(
        flags.json || !process.stdout.isTTY ? renderRetrievalJson(report) : renderRetrievalText(report),
      )
    } finally {
      bar?.stop()
      await embedder.close()
    }
  }

  /** The --data chain: the split's index, log-mels and normalised audio embeddings, with what was listed. */
  private chain(
    index: TableInput,
    config: MelConfig,
    o: {embedder: Embedder; workers: number; batchSize: number; bar: Progress; failures: Failures},
  ): {scored: TableInput; listing: Listing} {
    const tallied = tallyIndex(index)
    const scored = audioEmbeddings(tallied.input, {
      embedder: o.embedder,
      config,
      normalize: true,
      batchSize: o.batchSize,
      window: 2 * o.workers,
      version: this.version,
      onClip: (e) => {
        o.failures.note(e)
        o.bar.tick({detail: e.id})
      },
    })
    return {scored, listing: tallied.listing}
  }
}
