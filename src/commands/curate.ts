import {Flags} from '../cli/oclif.js'
import {arg} from '../cli/args.js'
import {checkOutputs} from '../cli/outputs.js'
import {VipantCommand} from '../cli/base-command.js'
import {progress} from '../lib/util/progress.js'
import {openTableInput} from '../lib/arrow/input.js'
import {openTableOutput, writeAll} from '../lib/arrow/output.js'
import {
  checkCurateInput,
  curateStage,
  curateStageSchema,
  FRAME_MERGES,
  imageModel,
  readCaptionPool,
  staleColumns,
  type CurateOptions,
  type CurateStats,
  type FrameMerge,
} from '../lib/data/curate.js'
import {UserError} from '../lib/util/errors.js'
import {plural} from '../lib/util/plural.js'
import {tableOutputFlag} from '../cli/flags.js'

export default class Curate extends VipantCommand {
  static override summary =
    'Caption clips from their video frames: the captions of a pool that CLIP finds closest to each frame'
  static override description = `VIP-ANT's curated captions: each frame's CLIP image embedding (image_emb, from vipant mel --frames K | vipant embed --tower image) ranks a caption pool by cosine similarity with the captions' CLIP text embeddings, and each clip gets the best captions of its frames as "captions" (what vipant finetune trains on), with their similarities as "caption_scores". Every other column passes through, except a text_emb of the captions being replaced (vipant embed --tower text remakes it for the new ones); a clip without frame embeddings gets null.

--frames says how a clip's frames combine: union (VIP-ANT's data: the top -k of every frame, merged, so up to frames x k captions), max (the k captions closest to any frame) or mean (the k best by mean similarity over the frames). Captions come best first, scored by their best (mean: mean) similarity; equal scores keep pool order.

The pool (--pool) is a table of text and text_emb (vipant embed --text-file captions.txt) or any table of captions with their text_emb, e.g. AudioCaps train through vipant embed; a caption repeated in the pool counts once. Both embeddings must come from the same CLIP. No model runs here.`

  static override examples = [
    '<%= config.bin %> embed --model clip-vit-b32 --text-file captions.txt -o pool.arrow',
    '<%= config.bin %> mel audioset/ --frames 4 | <%= config.bin %> embed --model clip-vit-b32 --tower image | <%= config.bin %> curate --pool pool.arrow -o curated.arrow',
    '<%= config.bin %> fetch audiocaps ~/data/audiocaps --split train | <%= config.bin %> embed --model clip-vit-b32 --tower text -o audiocaps-pool.arrow',
    '<%= config.bin %> curate frames-emb.arrow --pool audiocaps-pool.arrow -k 5 --frames max -o curated.arrow --json',
  ]

  static override args = {input: arg('table with image_emb to caption (default: stdin)')}

  static override flags = {
    pool: Flags.string({description: 'caption pool: a table of text (or captions) and text_emb', required: true}),
    k: Flags.integer({
      char: 'k',
      description: 'captions kept per frame (union) or per clip (max, mean)',
      default: 10,
      min: 1,
    }),
    frames: Flags.string({description: "how a clip's frames combine", options: [...FRAME_MERGES], default: 'union'}),
    output: tableOutputFlag,
    json: Flags.boolean({
      description: 'print the summary as JSON on stdout (needs -o: without it stdout carries the table)',
    }),
    'batch-size': Flags.integer({description: 'clips ranked per sweep of the pool', default: 64, min: 1}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Curate)
    checkOutputs({'-o': flags.output})
    if (flags.json && !flags.output)
      throw new UserError('--json prints the summary on stdout, which carries the table without -o: give -o FILE')
    const pool = await readCaptionPool(await openTableInput(flags.pool))
    const input = await openTableInput(args.input)
    checkCurateInput(input, pool)
    const image = imageModel(input)
    if (image !== null && pool.model !== null && image !== pool.model) {
      process.stderr.write(
        `vipant curate: warning: ${input.source} was embedded with ${image}, the pool ${pool.source} with ${pool.model}: similarities across different CLIPs mean nothing\n`,
      )
    }
    for (const column of staleColumns(input)) {
      process.stderr.write(
        `vipant curate: dropping ${column}: it embeds the captions this replaces (vipant embed --tower text embeds the new ones)\n`,
      )
    }

    const bar = progress('curate', undefined)
    let stats: CurateStats = {clips: 0, curated: 0, frames: 0, captions: 0, topScore: 0}
    const options: CurateOptions = {
      pool,
      k: flags.k,
      merge: flags.frames as FrameMerge,
      batchSize: flags['batch-size'],
      onRows: (s) => bar.tick({detail: plural((stats = s).clips, 'clip')}),
    }
    const started = performance.now()
    try {
      const schema = curateStageSchema(input, options, this.version)
      await writeAll(openTableOutput(schema, flags.output), curateStage(input, schema, options))
    } finally {
      bar.stop()
    }
    const summary = {
      input: input.source,
      output: flags.output ?? 'stdout',
      k: flags.k,
      frames: flags.frames,
      pool: {
        source: pool.source,
        captions: pool.texts.length,
        duplicates: pool.duplicates,
        unembedded: pool.unembedded,
      },
      clips: stats.clips,
      curated: stats.curated,
      without_frames: stats.clips - stats.curated,
      frame_embeddings: stats.frames,
      captions_per_clip: stats.curated === 0 ? 0 : stats.captions / stats.curated,
      mean_top_score: stats.curated === 0 ? null : stats.topScore / stats.curated,
      seconds: (performance.now() - started) / 1000,
    }
    if (flags.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`)
    process.stderr.write(
      `curate: ${summary.curated} of ${plural(summary.clips, 'clip')} captioned from ${plural(summary.frame_embeddings, 'frame')}, pool ${plural(summary.pool.captions, 'caption')}` +
        `${pool.duplicates > 0 ? ` (${plural(pool.duplicates, 'repeat')} dropped)` : ''}, ${summary.captions_per_clip.toFixed(1)} captions per clip` +
        `${summary.mean_top_score === null ? '' : `, mean top score ${summary.mean_top_score.toFixed(4)}`}, ${summary.seconds.toFixed(1)} s\n`,
    )
  }
}
