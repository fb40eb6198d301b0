import {Flags} from '../cli/oclif.js'
import {checkOutputs} from '../cli/outputs.js'
import {VipantCommand} from '../cli/base-command.js'
import {arg} from '../cli/args.js'
import {headTable} from '../lib/arrow/head.js'
import {openTableInput} from '../lib/arrow/input.js'
import {openTableOutput, writeAll} from '../lib/arrow/output.js'
import {tableOutputFlag} from '../cli/flags.js'

export default class Head extends VipantCommand {
  static override summary = 'The first rows of a table'
  static override description = 'Stops reading as soon as the rows are out, so it is cheap on a long table or a pipe.'
  static override examples = [
    '<%= config.bin %> fetch audioset ~/data/audioset | <%= config.bin %> head -n 100 | <%= config.bin %> mel -o sample.arrow',
  ]
  static override args = {input: arg('table to read (default: stdin)')}
  static override flags = {
    rows: Flags.integer({char: 'n', description: 'rows to keep', default: 10, min: 0}),
    output: tableOutputFlag,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Head)
    checkOutputs({'-o': flags.output})
    const table = headTable(await openTableInput(args.input), flags.rows)
    await writeAll(openTableOutput(table.schema, flags.output), table.batches)
  }
}
