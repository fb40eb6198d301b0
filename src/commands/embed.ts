import {readFile} from 'node:fs/promises'
import {Flags} from '../cli/oclif.js'
import {arg} from '../cli/args.js'
import {checkOutputs} from '../cli/outputs.js'
import {VipantCommand} from '../cli/base-command.js'
import {engineFlags, startEmbedder} from '../cli/embedder.js'
import {progress} from '../lib/util/progress.js'
import {shardFlag, shardInput} from '../cli/shard.js'
import {applyOffline, offlineFlag} from '../cli/offline.js'
import {openTableInput, type TableInput} from '../lib/arrow/input.js'
import {openTableOutput, writeAll} from '../lib/arrow/output.js'
import {checkEmbedInput, embedStage, embedStageSchema, textTable, type EmbedOptions} from '../lib/model/embed-stage.js'
import type {TowerName} from '../lib/towers/towers.js'
import {UserError} from '../lib/util/errors.js'
import {plural} from '../lib/util/plural.js'
import {tableOutputFlag} from '../cli/flags.js'

export default class Embed extends VipantCommand {
  static override summary = "Audio, text and image embeddings in CLIP's space"
  static override description = `Appends "audio_emb" (from a "mel" column), "text_emb" (from "captions", else "class") and "image_emb" (from "images", made by vipant mel --frames), L2-normalised unless --raw (zero-shot classification uses raw embeddings, as the original did). Every other column passes through.

--model names the audio tower: a VIP-ANT release (.pth), a vipant checkpoint, or a known name resolved from $VIPANT_HOME/models. VIP-ANT's releases hold only the audio tower, so --clip supplies CLIP's text and image towers (default clip-vit-b32, OpenAI's ViT-B-32.pt). With --text or --text-file, embed makes a new table of those texts instead of reading one.

Without --tower, a table with log-mels gets audio embeddings (and image embeddings when it has frames), not text ones: every index table carries "captions" and "class" columns, null for the datasets without them, and zeroshot and retrieve embed their prompts and captions themselves. Add --tower text (with --tower audio) to keep caption embeddings in the table; a table without "mel" or "images" gets text embeddings.`

  static override examples = [
    '<%= config.bin %> fetch esc50 ~/data/ESC-50 | <%= config.bin %> mel | <%= config.bin %> embed --model vipant-esc50 --raw -o esc50-emb.arrow',
    '<%= config.bin %> embed clotho-mel.arrow --model vipant-clotho --tower audio --tower text -o clotho-emb.arrow',
    '<%= config.bin %> embed --model clip-vit-b32 --text "a dog barks" --text "rain on a roof" -o queries.arrow',
    '<%= config.bin %> mel videos/ --frames 4 | <%= config.bin %> embed --model clip-vit-b32 --tower image -o frames.arrow',
  ]

  static override args = {input: arg('table to read (default: stdin)')}

  static override flags = {
    output: tableOutputFlag,
    model: Flags.string({
      description: 'audio tower (or a full CLIP for --tower text|image): a path or a known name',
      required: true,
    }),
    offline: offlineFlag,
    clip: Flags.string({
      description: 'CLIP supplying the text and image towers when --model lacks them',
      default: 'clip-vit-b32',
    }),
    tower: Flags.string({
      description:
        'towers to run (repeatable; default: audio for a "mel" column, plus image for "images"; without "mel", image, else text)',
      options: ['audio', 'text', 'image'],
      multiple: true,
    }),
    raw: Flags.boolean({description: 'keep embeddings unnormalised (zero-shot classification)'}),
    text: Flags.string({description: 'embed this text into a new table (repeatable)', multiple: true}),
    'text-file': Flags.string({description: 'embed each line of this file into a new table'}),
    'batch-size': Flags.integer({description: 'rows per forward pass', default: 8, min: 1}),
    workers: Flags.integer({
      description: 'worker threads, each with its own copy of the model (tfjs; default: one per core on wasm/cpu)',
      min: 1,
    }),
    ...engineFlags,
    shard: shardFlag,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Embed)
    checkOutputs({'-o': flags.output})
    applyOffline(flags.offline)
    const texts = [...(flags.text ?? []), ...(flags['text-file'] ? await readLines(flags['text-file']) : [])]
    const input = texts.length > 0 ? undefined : shardInput('embed', await openTableInput(args.input), flags.shard)
    const run = (flags.tower as TowerName[] | undefined) ?? (input ? presentTowers(input) : ['text'])
    if (run.length === 0)
      throw new UserError(`${input!.source}: nothing to embed: no mel, captions, class or images column`)
    if (input) checkEmbedInput(input, run)

    const normalize = !flags.raw
    const {embedder, workers} = await startEmbedder({
      engine: flags.engine,
      backend: flags.backend,
      workers: flags.workers,
      run,
      model: flags.model,
      clip: flags.clip,
      normalize,
    })
    const bar = progress('embed', undefined)
    let rows = 0
    const options: EmbedOptions = {
      embedder,
      run,
      normalize,
      batchSize: flags['batch-size'],
      window: 2 * workers,
      onRows: (n) => bar.tick({detail: plural((rows += n), 'row')}),
    }
    const started = performance.now()
    try {
      if (input) {
        const schema = embedStageSchema(input, options, this.version)
        await writeAll(openTableOutput(schema, flags.output), embedStage(input, schema, options))
      } else {
        const table = textTable(texts, options, this.version)
        await writeAll(openTableOutput(table.schema, flags.output), table.batches)
      }
    } finally {
      bar.stop()
      await embedder.close()
    }
    const wall = (performance.now() - started) / 1000
    process.stderr.write(
      `embed: ${plural(rows, 'row')}, towers ${run.join('+')}, ${wall.toFixed(1)} s (${(rows / wall).toFixed(1)} rows/s)\n`,
    )
  }
}

/** The towers whose input is in the table: a mel column for audio, captions or class for text, images for image. */
/** The default towers, as the --tower help states them. */
function presentTowers(input: TableInput): TowerName[] {
  const has = (name: string) => input.schema.fields.some((f) => f.name === name)
  if (has('mel')) return has('images') ? ['audio', 'image'] : ['audio']
  if (has('images')) return ['image']
  return has('captions') || has('class') ? ['text'] : []
}

async function readLines(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => {
    throw new UserError(`${file}: no such file`)
  })
  return text.split(/\r?\n/).filter((line) => line.trim() !== '')
}
