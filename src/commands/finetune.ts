import {Flags} from '../cli/oclif.js'
import {arg} from '../cli/args.js'
import {VipantCommand} from '../cli/base-command.js'
import {renderResult, runTraining, trainFlags, WORKERS_HELP} from '../cli/train-run.js'

export default class Finetune extends VipantCommand {
  static override summary = "AT fine-tuning: the audio tower learns from captions against CLIP's frozen text tower"
  static override description = `Contrastive audio-text training: the audio tower from a VA checkpoint (--init: vipant's, or VIP-ANT's released .pth), CLIP's text tower frozen, a fresh logit scale ln(1/0.07), one random caption per clip per step. LARS with the Barlow Twins schedule by default (VIP-ANT used batch 64).

DATA is a table from "vipant mel" with a "captions" column (AudioCaps, Clotho, or curated captions), or a "class" column whose names become captions with --prompt ("the sound of dog bark"); precomputed "text_emb" is used when present. An index table without a "mel" column ("vipant fetch") trains from its audio files: log-mels computed on the fly in worker threads, as "vipant mel" computes them, a fresh seeded random crop each step (train.yaml: features: on-the-fly). --random-captions gives each clip the captions of a random other clip (the RC control); --fraction keeps a seeded fraction of the clips (the few-shot study).

Evaluation every --eval-every steps on --val (or --holdout rows): retrieval R@1/5/10 when every clip has 5 captions, else zero-shot top-1/top-5 over the class prompts.

${WORKERS_HELP}`

  static override examples = [
    '<%= config.bin %> finetune audiocaps-train.arrow --init vipant-va --val audiocaps-val.arrow -o runs/at --batch-size 64',
    '<%= config.bin %> finetune us8k-mel.arrow --model tiny --holdout 200 -o runs/us8k --steps 300 --optimizer adam --lr 1e-3',
    '<%= config.bin %> finetune audiocaps-train.arrow --init vipant-va --random-captions --fraction 0.1 -o runs/rc',
    '<%= config.bin %> finetune -o runs/at --resume',
    '<%= config.bin %> finetune -o runs/at --resume --workers 16   # continued on a 16-core machine',
  ]

  static override args = {
    data: arg(
      'training table (vipant mel, with captions or class); a file, or piped in (kept as RUN/input.arrow, so the run can resume)',
    ),
  }

  static override flags = {
    'random-captions': Flags.boolean({description: 'train on the captions of a random other clip (the RC control)'}),
    fraction: Flags.string({description: 'train on this seeded fraction of the clips [default: 1]'}),
    prompt: Flags.string({
      description: 'prefix of class names used as captions and in zero-shot evaluation [default: "the sound of"]',
    }),
    ...trainFlags,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Finetune)
    const {result, signal} = await runTraining(
      'finetune',
      {pair: 'audio-text'},
      {...flags, 'random-captions': flags['random-captions'] || undefined},
      args.data,
    )
    process.stdout.write(renderResult(result, flags.json))
    if (signal) this.exit(signal === 'SIGINT' ? 130 : 143)
  }
}
