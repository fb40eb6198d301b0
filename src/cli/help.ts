import {CommandHelp, Help} from './oclif.js'

/** The main pipeline, shown at the end of `vipant --help` as git and cargo show their common workflows. */
const ROOT_EXAMPLES = [
  "Fetch weights and data, then score ESC-50 with the paper's protocol:",
  'vipant fetch model vipant-esc50',
  'vipant fetch esc50 ~/data/ESC-50 --download -o esc50.arrow',
  'vipant zeroshot --data esc50 ~/data/ESC-50 --model vipant-esc50',
  'The same as a pipeline of stages, each one rerunnable on its own:',
  'vipant fetch esc50 ~/data/ESC-50 | vipant mel | vipant embed --model vipant-esc50 | vipant zeroshot',
  'Text-audio retrieval on Clotho; VA pre-training from video clips:',
  'vipant retrieve --data clotho ~/data/clotho --model vipant-clotho --max-len 1800',
  'vipant mel audioset/ | vipant pretrain --out runs/va',
]

/**
 * A line wrapped to `width` with its continuation lines under its text: under the second column of a
 * "term   text" row (a run of 2+ spaces within the first 40 characters), else under the line's own indent.
 * oclif's wrapping starts continuations at column 0, which scrambles hand-aligned lists.
 */
export function wrapHanging(line: string, width: number): string {
  if (line.length <= width) return line
  const column = /^(\s*\S.*?\s{2,})\S/.exec(line)
  const hang = column && column[1].length <= 40 ? column[1].length : /^\s*/.exec(line)![0].length
  const room = Math.max(20, width - hang)
  const out: string[] = []
  let current = ''
  for (const word of line.slice(hang).split(/ +/)) {
    if (current && current.length + 1 + word.length > room) {
      out.push(current)
      current = word
    } else current = current ? `${current} ${word}` : word
  }
  out.push(current)
  return out.map((text, i) => (i === 0 ? line.slice(0, hang) : ' '.repeat(hang)) + text).join('\n')
}

class VipantCommandHelp extends CommandHelp {
  protected override description(): string | undefined {
    const {description, summary} = this.command
    if (!description) return undefined
    const text = this.render(summary ? `${summary}\n\n${description}` : description)
    return text
      .split('\n')
      .map((line) => wrapHanging(line, this.opts.maxWidth - this.indentSpacing))
      .join('\n')
  }
}

export default class VipantHelp extends Help {
  protected override CommandHelpClass = VipantCommandHelp

  protected override async showRootHelp(): Promise<void> {
    await super.showRootHelp()
    const {bin} = this.config
    const body = ROOT_EXAMPLES.map((line) => (line.startsWith('vipant ') ? `  $ ${line}` : line)).join('\n')
    this.log(this.section('EXAMPLES', body))
    this.log('')
    this.log(`See '${bin} help COMMAND' or '${bin} COMMAND -h' for a command's flags and examples.`)
  }
}
