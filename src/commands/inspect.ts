import {Flags} from '../cli/oclif.js'
import {arg} from '../cli/args.js'
import {VipantCommand} from '../cli/base-command.js'
import {openTableInput} from '../lib/arrow/input.js'
import {summarize, type ColumnSummary, type TableSummary} from '../lib/arrow/inspect.js'
import {plural} from '../lib/util/plural.js'

export default class Inspect extends VipantCommand {
  static override summary = 'Describe a vipant table: schema, rows, column statistics, provenance'
  static override description =
    'Reads the table once, batch by batch, and prints its columns (type, tensor shape, nulls, range or most frequent values), its row count and the stages that made it with their parameters.'

  static override examples = [
    '<%= config.bin %> inspect esc50-mel.arrow',
    '<%= config.bin %> fetch us8k ~/data/UrbanSound8K | <%= config.bin %> inspect',
    '<%= config.bin %> inspect emb.arrow --json | jq .stages',
  ]

  static override args = {input: arg('table to read (default: stdin)')}
  static override flags = {json: Flags.boolean({description: 'print the summary as JSON'})}

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Inspect)
    const summary = await summarize(await openTableInput(args.input))
    process.stdout.write(flags.json ? `${JSON.stringify(summary, null, 2)}\n` : render(summary))
  }
}

function render(t: TableSummary): string {
  const rows = t.columns.map((c) => [
    c.name,
    c.shape ? `${c.type} ${JSON.stringify(c.shape)}` : c.type,
    String(c.nulls),
    values(c),
  ])
  const header = ['column', 'type', 'nulls', 'values']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ')
  const stages = t.stages.map(
    (s, i) =>
      `  ${i + 1}. vipant ${s.command} ${s.version}: ${JSON.stringify(s.params)}\n     -> ${s.columns.join(', ')}`,
  )
  return [
    `${t.source}: ${plural(t.rows, 'row')} in ${plural(t.batches, 'batch', 'batches')}`,
    '',
    line(header),
    ...rows.map(line),
    '',
    'made by:',
    ...stages,
    '',
  ].join('\n')
}

function values(c: ColumnSummary): string {
  if (c.min !== undefined) return `${fmt(c.min)} .. ${fmt(c.max!)}, mean ${fmt(c.mean!)}`
  if (c.top)
    return `${c.distinct} distinct: ${c.top.map(([v, n]) => `${JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)} (${n})`).join(', ')}`
  return ''
}

const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x.toPrecision(4))
