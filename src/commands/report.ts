import path from 'node:path'
import {Flags} from '../cli/oclif.js'
import {requiredArg} from '../cli/args.js'
import {VipantCommand} from '../cli/base-command.js'
import {htmlFlags} from '../cli/html.js'
import {checkPlotPath, writePlot} from '../lib/eval/plot-file.js'
import {writeHtml} from '../lib/html/write.js'
import {checkOutputs} from '../cli/outputs.js'
import {curvesSvg} from '../lib/train/curves-svg.js'
import {readMetricsLog, summarizeRun, type RunSummary, type SeriesSummary} from '../lib/train/metrics-log.js'
import {plural} from '../lib/util/plural.js'

export default class Report extends VipantCommand {
  static override summary = "Draw a training run's loss and metric curves, and summarise it"
  static override description = `Reads RUN_DIR/metrics.jsonl (written by vipant pretrain and finetune) and draws loss, learning rate, logit scale, gradient norm and every evaluation metric against the step, one small chart each on a shared step axis, as SVG (or PNG, through rsvg-convert or ImageMagick when present). Prints the steps, the last and best loss, and each metric's last and best value with its step ("best" is the lowest for losses, ranks and errors, the highest otherwise).

Works on a run in progress or one that was killed: a last line cut short is skipped with a warning. A resumed run logs again from its checkpoint's step; the later records replace the earlier ones from that step on.`

  static override examples = [
    '<%= config.bin %> report runs/va',
    '<%= config.bin %> report runs/at -o at-curves.png',
    '<%= config.bin %> report runs/at --json | jq \'.series[] | select(.kind == "eval") | .best\'',
  ]

  static override args = {run: requiredArg('run directory holding metrics.jsonl (or the metrics file itself)')}

  static override flags = {
    output: Flags.string({char: 'o', description: 'write the chart here (.svg or .png); default RUN_DIR/report.svg'}),
    json: Flags.boolean({description: 'print the summary as JSON'}),
    html: htmlFlags.html,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Report)
    if (flags.output) await checkPlotPath(flags.output, '-o')
    checkOutputs({'--html': flags.html})
    const log = await readMetricsLog(args.run)
    for (const s of log.skipped) process.stderr.write(`vipant report: ${log.file}:${s.line}: skipped, ${s.why}\n`)
    const summary = summarizeRun(log)
    const plot = flags.output ?? path.join(path.dirname(log.file), 'report.svg')
    const curves = curvesSvg(`${args.run}: ${plural(summary.trainSteps, 'step')}`, log.series)
    await writePlot(plot, curves)
    await writeHtml(flags.html, false, {kind: 'training', run: args.run, log, summary, curves})
    process.stdout.write(flags.json ? `${JSON.stringify({...summary, plot}, null, 2)}\n` : render(summary, plot))
  }
}

function render(r: RunSummary, plot: string): string {
  const span = r.lastStep === null ? 'no records' : `steps ${r.firstStep}..${r.lastStep}`
  const context = [
    r.epoch === null ? '' : `epoch ${r.epoch}`,
    r.clipsPerS === null ? '' : `${fmt(r.clipsPerS)} clips/s`,
  ].filter(Boolean)
  const head = `${r.metrics}: ${r.trainSteps} train steps (${span})${context.length ? `, ${context.join(', ')}` : ''}; ${r.evaluations} evaluations`
  const width = Math.max(0, ...r.series.map((s) => s.name.length))
  const line = (s: SeriesSummary) =>
    `  ${s.name.padEnd(width)}  last ${at(s.last)}${s.best ? `  best ${at(s.best)} (${s.better})` : ''}`
  return [head, ...r.series.map(line), `chart: ${plot}`, ''].join('\n')
}

const at = (p: {step: number; value: number}) => `${fmt(p.value)} @${p.step}`
const fmt = (x: number) => String(Number(x.toPrecision(5)))
