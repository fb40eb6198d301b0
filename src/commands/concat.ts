import {checkOutputs} from '../cli/outputs.js'
import {VipantCommand} from '../cli/base-command.js'
import {arg} from '../cli/args.js'
import {concatTables} from '../lib/arrow/concat.js'
import {openTableInput} from '../lib/arrow/input.js'
import {openTableOutput, writeAll} from '../lib/arrow/output.js'
import {UserError} from '../lib/util/errors.js'
import {tableOutputFlag} from '../cli/flags.js'

export default class Concat extends VipantCommand {
  static override summary = 'Tables with the same columns, one after another'
  static override description =
    'Streams the tables in the order given into one (the provenance of the first is kept). Typical use: merging the shards of a job array.'
  static override examples = [
    '<%= config.bin %> concat shard-*.arrow -o all.arrow',
    '<%= config.bin %> concat a.arrow b.arrow | <%= config.bin %> inspect',
  ]
  static override strict = false
  static override args = {tables: arg('tables to concatenate')}
  static override flags = {output: tableOutputFlag}

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Concat)
    checkOutputs({'-o': flags.output})
    if (argv.length === 0) throw new UserError('name the tables to concatenate')
    const inputs = await Promise.all((argv as string[]).map((p) => openTableInput(p)))
    const table = concatTables(inputs)
    await writeAll(openTableOutput(table.schema, flags.output), table.batches)
  }
}
