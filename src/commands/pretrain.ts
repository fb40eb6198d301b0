import {Flags} from '../cli/oclif.js'
import {arg} from '../cli/args.js'
import {VipantCommand} from '../cli/base-command.js'
import {renderResult, runTraining, trainFlags, WORKERS_HELP} from '../cli/train-run.js'
import type {Pair} from '../lib/train/config.js'

export default class Pretrain extends VipantCommand {
  static override summary =
    "VA pre-training: an audio tower learns CLIP's image space from video (or train a small image-text CLIP)"
  static override description = `Contrastive training: the audio tower starts from CLIP's image tower (renamed, positional embedding resized to the audio grid), CLIP's image tower stays frozen, loss = the sum of both cross-entropy directions with a learned, unclamped logit scale. LARS with the Barlow Twins schedule by default.

DATA is a table from "vipant mel --frames K" (the frozen image tower runs once over its frames), one whose "frames" column lists frame files (an AudioSet index: "vipant mel audioset/" passes it through, and the files are decoded when the frozen tower embeds them), or one that also has "image_emb" ("vipant embed --tower image", used when present). An index table without a "mel" column ("vipant fetch": audio paths, frame files) is read as is: log-mels are computed on the fly in worker threads while the step before runs, exactly as "vipant mel" computes them, with a fresh random crop each step (seeded, so --resume stays exact), and no features on disk; train.yaml says which (features: precomputed | on-the-fly). A row of such an index that lists no frame files (a folder of videos: "vipant fetch folder DIR") has --video-frames frames cut from its video, exactly as "vipant mel --frames K" cuts them, in worker threads; the frozen image tower embeds them once before training and only the embeddings are kept, in RUN/frame-embeddings.arrow, which --resume reads back (train.yaml: frameSource: video). A run that fails before its first checkpoint leaves no run directory behind. Each step takes one random frame per clip, SpecAugment on the log-mel, and a random crop when --frames is shorter than the table's log-mels.

--pair image-text trains both towers of a CLIP on images and their captions (a "captions" column, or a "class" column whose names become captions with --prompt, "a picture of red circle") with the same trainer: the demo world's small CLIP (examples/demo.sh). Its evaluation on --val is retrieval R@1/5/10 when every row has 5 captions, else zero-shot top-1/top-5 of the pictures over the class prompts.

--steps 0 writes the starting weights as checkpoint step 0: with --init CLIP, the audio tower as VA training starts it, an untrained control.

The run directory gets checkpoints/step-N/ (vipant's format: usable as --model anywhere; plus optimiser state), metrics.jsonl (one JSON object per step and per evaluation; "vipant report" draws it) and train.yaml. Ctrl-C (or SIGTERM) checkpoints and exits; --resume continues exactly where it stopped.

${WORKERS_HELP}`

  static override examples = [
    '<%= config.bin %> mel videos/ --frames 4 -o va.arrow && <%= config.bin %> pretrain va.arrow --init clip-vit-b32 -o runs/va --batch-size 64',
    '<%= config.bin %> pretrain va.arrow --model tiny -o runs/tiny --batch-size 16 --steps 200 --optimizer adam --lr 1e-3',
    '<%= config.bin %> pretrain --config va.yaml --steps 5000',
    '<%= config.bin %> mel audioset/ | <%= config.bin %> pretrain -o runs/va --init clip-vit-b32',
    '<%= config.bin %> pretrain -o runs/va --resume',
    '<%= config.bin %> pretrain -o runs/va --resume --workers 16   # continued on a 16-core machine',
    '<%= config.bin %> pretrain shapes.arrow --pair image-text --model tiny -o runs/clip --steps 300 --optimizer adam --lr 3e-4',
    '<%= config.bin %> pretrain va.arrow --init runs/clip/checkpoints/step-00000300 -o runs/control --steps 0',
  ]

  static override args = {
    data: arg(
      'training table (vipant mel --frames, optionally with image_emb; or an index table, log-mels then made on the fly); a file, or piped in (kept as RUN/input.arrow, so the run can resume)',
    ),
  }

  static override flags = {
    pair: Flags.string({description: 'towers to match [default: audio-image]', options: ['audio-image', 'image-text']}),
    prompt: Flags.string({
      description:
        'image-text: prefix of class names used as captions and in zero-shot evaluation [default: "a picture of"]',
    }),
    'video-frames': Flags.integer({
      description:
        'frames cut from each bare video of an index table (no frame files listed), as vipant mel --frames K [default: 4]',
      min: 1,
    }),
    ...trainFlags,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Pretrain)
    const {pair, ...rest} = flags
    const {result, signal} = await runTraining('pretrain', {pair: (pair ?? 'audio-image') as Pair}, rest, args.data)
    process.stdout.write(renderResult(result, flags.json))
    if (signal) this.exit(signal === 'SIGINT' ? 130 : 143)
  }
}
