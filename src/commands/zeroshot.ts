import {existsSync} from 'node:fs'
import {Flags} from '../cli/oclif.js'
import {arg} from '../cli/args.js'
import {checkOutputs} from '../cli/outputs.js'
import {VipantCommand} from '../cli/base-command.js'
import {defaultModel, engineFlags, startEmbedder} from '../cli/embedder.js'
import {Failures} from '../cli/failures.js'
import {htmlFlags} from '../cli/html.js'
import {progress} from '../lib/util/progress.js'
import {applyOffline, offlineFlag} from '../cli/offline.js'
import {openTableInput, type TableInput} from '../lib/arrow/input.js'
import {requireRows} from '../lib/arrow/non-empty.js'
import {openTableOutput, writeAll} from '../lib/arrow/output.js'
import {DEFAULT_MEL} from '../lib/audio/mel-config.js'
import {readIndex} from '../lib/data/index-table.js'
import type {DatasetName} from '../lib/data/index-row.js'
import {DEFAULT_PROMPT} from '../lib/eval/classification.js'
import {confusionSvg} from '../lib/eval/confusion-svg.js'
import {checkPlotPath, writePlot} from '../lib/eval/plot-file.js'
import {coverageLine, renderJson, renderText} from '../lib/eval/report.js'
import {evaluateZeroShot} from '../lib/eval/zeroshot.js'
import {predictionsTable, readList, tallyIndex, type Listing} from '../lib/eval/zeroshot-input.js'
import {writeHtml} from '../lib/html/write.js'
import {audioEmbeddings} from '../lib/model/audio-chain.js'
import type {TowerName} from '../lib/towers/towers.js'
import {UserError} from '../lib/util/errors.js'
import {datasetHome} from '../lib/util/home.js'
import {clipBatchSizeFlag, reportJsonFlag, textClipFlag, towerWorkersFlag} from '../cli/flags.js'

export default class ZeroShot extends VipantCommand {
  static override summary =
    "Zero-shot classification accuracy, with the paper's protocol (ESC-50, UrbanSound8K, or your own classes)"
  static override description = `With --data, runs the whole chain in one process: index the dataset, log-mels, raw audio embeddings, class prompt embeddings, scores. Without --data, reads a table that already carries "audio_emb" plus "label"/"class" (vipant embed --raw) and embeds only the prompts.

Protocol: each class's text is the prompt, stripped, one space, then the class name with "_" as a space ("the sound of chirping birds"); a clip's prediction is the class with the highest raw dot product of unnormalised audio and text embeddings (the lowest class index on a tie); accuracy is pooled over all clips, not averaged over folds. --cosine scores cosine similarities instead. --prompts FILE gives several templates, one per line, averaged per class: a line holding {} has the class name put there, any other line is a prefix like --prompt.

Classes (index = label) come from the table's label and class columns, or from --classes FILE, one name per line: that makes a classifier for your own sounds. Clips listed but not on disk are counted and reported, never silently dropped.

On a terminal the report is a table; with --json or when stdout is not a terminal it is JSON stating the protocol, the folds, the clip counts, the checkpoints' sha256, the backend and max_len.`

  static override examples = [
    '<%= config.bin %> zeroshot --data esc50 ~/data/ESC-50 --model vipant-esc50',
    '<%= config.bin %> zeroshot --data us8k --predictions us8k-pred.arrow --json > us8k.json',
    '<%= config.bin %> mel mine/ | <%= config.bin %> embed --model vipant-esc50 --raw | <%= config.bin %> zeroshot --model vipant-esc50 --classes classes.txt',
  ]

  static override args = {
    input: arg(
      'with --data: the dataset directory (default $VIPANT_HOME/data/<name>); else a table with audio_emb (default stdin)',
    ),
  }

  static override flags = {
    data: Flags.string({description: 'evaluate this dataset, from audio to accuracy', options: ['esc50', 'us8k']}),
    model: Flags.string({
      description:
        "audio tower: a path or a known name (with --data, default: the released checkpoint behind the paper's number, vipant-esc50 or vipant-us8k)",
    }),
    offline: offlineFlag,
    clip: textClipFlag,
    prompt: Flags.string({description: 'prefix of every class name', default: DEFAULT_PROMPT}),
    prompts: Flags.string({
      description: 'file of templates, one per line, averaged per class ({} marks the class name; else a prefix)',
      exclusive: ['prompt'],
    }),
    cosine: Flags.boolean({description: 'score cosine similarities instead of raw dot products'}),
    classes: Flags.string({description: 'file of class names, one per line, line i naming label i'}),
    'max-len': Flags.integer({
      description: 'frames per clip (10 ms each) with --data',
      default: DEFAULT_MEL.maxLen,
      min: 1,
    }),
    predictions: Flags.string({
      description: 'write the per-clip predictions here (Arrow: id, fold, label, predicted, scores)',
    }),
    plot: Flags.string({
      description: 'draw the confusion matrix here (.svg; .png through rsvg-convert or ImageMagick)',
    }),
    json: reportJsonFlag,
    ...htmlFlags,
    'batch-size': clipBatchSizeFlag,
    workers: towerWorkersFlag,
    ...engineFlags,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(ZeroShot)
    checkOutputs({'--predictions': flags.predictions, '--plot': flags.plot, '--html': flags.html})
    applyOffline(flags.offline)
    if (flags.data && !flags.model) flags.model = defaultModel('zeroshot', flags.data)
    if (flags.plot) await checkPlotPath(flags.plot)
    const templates = flags.prompts ? await readList(flags.prompts, 'prompt templates') : [flags.prompt]
    const givenClasses = flags.classes ? await readList(flags.classes, 'class names') : undefined
    const dataDir = flags.data ? (args.input ?? datasetHome(flags.data)) : undefined
    if (flags.data && !args.input && !existsSync(dataDir!)) {
      throw new UserError(
        `${flags.data} is not in ${dataDir}: put it there, or name its directory (vipant zeroshot --data ${flags.data} DIR)`,
      )
    }

    // The input is read (or the dataset listed) before the towers load, so that a bad one is reported at once.
    const index = flags.data
      ? await readIndex([{dataset: flags.data as DatasetName, dir: dataDir!}], {}, this.version)
      : undefined
    const table = flags.data ? undefined : await requireRows(await openTableInput(args.input), 'evaluate')
    const run: TowerName[] = flags.data ? ['audio', 'text'] : ['text']
    const {embedder, workers, backend} = await startEmbedder({
      engine: flags.engine,
      backend: flags.backend,
      workers: flags.workers,
      run,
      model: flags.model ?? flags.clip,
      clip: flags.clip,
      normalize: false,
    })

    let listing: Listing | null = null
    let scored: TableInput
    // Only the --data chain has clips to count; reading a table is quick.
    const bar = index ? progress('zeroshot', index.present) : undefined
    const failures = new Failures()
    try {
      if (index) {
        const tallied = tallyIndex(index.input)
        listing = tallied.listing
        scored = audioEmbeddings(tallied.input, {
          embedder,
          config: {...DEFAULT_MEL, maxLen: flags['max-len']},
          normalize: false,
          batchSize: flags['batch-size'],
          window: 2 * workers,
          version: this.version,
          onClip: (e) => {
            failures.note(e)
            bar!.tick({detail: e.id})
          },
        })
      } else {
        scored = table!
      }
      const {report, predictions, classes} = await evaluateZeroShot({
        scored,
        listing,
        dataset: flags.data ?? 'table',
        templates,
        classes: givenClasses,
        cosine: flags.cosine,
        embedder,
        backend,
        version: this.version,
      })
      bar?.stop()
      process.stderr.write(`zeroshot: ${coverageLine(report)}\n`)
      const failed = failures.line('zeroshot')
      if (failed) process.stderr.write(`${failed}\n`)
      // An empty folder or table scores nothing: an empty report must not pass for a result in a script.
      if (report.clips.evaluated === 0)
        throw new UserError(`${flags.data ? dataDir : scored.source}: nothing to evaluate (no clip was scored)`)
      if (flags.predictions) {
        const table = predictionsTable(
          predictions,
          classes,
          {prompts: templates, scoring: report.protocol.scoring},
          this.version,
        )
        await writeAll(openTableOutput(table.schema, flags.predictions), table.batches)
        process.stderr.write(`zeroshot: wrote ${flags.predictions}\n`)
      }
      if (flags.plot) {
        await writePlot(flags.plot, confusionSvg(report))
        process.stderr.write(`zeroshot: wrote ${flags.plot}\n`)
      }
      await writeHtml(flags.html, flags['html-copy'], {kind: 'zeroshot', report, predictions})
      process.stdout.write(flags.json || !process.stdout.isTTY ? renderJson(report) : renderText(report))
    } finally {
      bar?.stop()
      await embedder.close()
    }
  }
}
