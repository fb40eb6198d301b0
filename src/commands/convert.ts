import {existsSync} from 'node:fs'
import {Flags} from '../cli/oclif.js'
import {requiredArg} from '../cli/args.js'
import {VipantCommand} from '../cli/base-command.js'
import {loadModelFile} from '../lib/checkpoint/load.js'
import {formatReport, modelReport} from '../lib/checkpoint/report.js'
import {writeVipantCheckpoint} from '../lib/checkpoint/vipant-format.js'
import {UserError} from '../lib/util/errors.js'

export default class Convert extends VipantCommand {
  static override summary = "Convert a CLIP or VIP-ANT checkpoint into vipant's format"
  static override description = `Reads any checkpoint vipant understands, recognised by content, checks it is a complete model and writes it as vipant's checkpoint: float32 safetensors with the CLIP towers under "clip." (OpenAI CLIP names) and the audio head under "audio." (VIP-ANT names), plus a JSON config (audio input size, patch stride, logit scale, source). Then prints what it found.

Formats read:
  OpenAI CLIP TorchScript archive (ViT-B-32.pt, fp16)      torch.jit.save zip
  CLIP state dict (.pt/.pth/.safetensors, OpenAI names)    torch.save(model.state_dict())
  VIP-ANT checkpoint (.pth): {cfg, model} with a 2-tuple (audio, loss) or a 4-tuple (image, audio, text, loss)
  Hugging Face CLIPModel weights (openai/clip-vit-base-patch32 model.safetensors)
  vipant checkpoints (a directory or a .safetensors file)

Pickles are read by a restricted unpickler that never runs code; a file naming a dangerous Python global (os.system, eval, ...) is refused. The legacy non-zip torch.save format is not supported.

OUT ending in .safetensors is written as one file (config in its metadata); otherwise OUT is a directory with model.safetensors and config.json. Files are written to a temporary name and renamed.`

  static override examples = [
    '<%= config.bin %> convert ~/.cache/clip/ViT-B-32.pt clip-vit-b32',
    '<%= config.bin %> convert 00071478.pth vipant-va.safetensors',
    '<%= config.bin %> convert clip-vit-base-patch32/model.safetensors clip-hf --json',
    '<%= config.bin %> convert 00006900.pth at --force',
  ]

  static override args = {
    input: requiredArg('checkpoint to read'),
    output: requiredArg('where to write: a directory, or a .safetensors file'),
  }

  static override flags = {
    json: Flags.boolean({description: 'print the report as JSON'}),
    force: Flags.boolean({description: 'overwrite OUT if it exists'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Convert)
    if (existsSync(args.output) && !flags.force) throw new UserError(`${args.output} exists (use --force to overwrite)`)
    const model = await loadModelFile(args.input)
    const files = await writeVipantCheckpoint(args.output, model)
    const report = {input: args.input, output: args.output, files, ...modelReport(model)}
    if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
    else process.stdout.write(`${formatReport(report)}\nwrote       ${files.join(', ')}\n`)
  }
}
