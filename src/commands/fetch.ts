import {existsSync} from 'node:fs'
import {Flags} from '@oclif/core'
import {arg, requiredArg} from '../cli/args.js'
import {VipantCommand} from '../cli/base-command.js'
import {progress} from '../cli/progress.js'
import {openTableOutput, writeAll} from '../lib/arrow/output.js'
import {indexTableInput} from '../lib/data/index-table.js'
import type {DatasetName} from '../lib/data/index-row.js'
import {DATASETS} from '../lib/data/ingest.js'
import {UserError} from '../lib/util/errors.js'
import {datasetHome} from '../lib/util/home.js'

export default class Fetch extends VipantCommand {
  static override summary = 'Index a dataset on disk: one row per clip, as an Arrow table'
  static override description = `Reads a dataset in its official layout and writes the index table (id, path, split/fold, label, class, captions, labels, start/end, frames, status) that every later stage reads. Clips listed in the metadata whose file is not on disk become rows with status "missing".

Datasets:
${Object.entries(DATASETS)
  .map(([name, d]) => `  ${name.padEnd(10)} ${d.description}\n  ${''.padEnd(10)} ${d.layout}`)
  .join('\n')}

Without DIR, the dataset is looked for in $VIPANT_HOME/data/<dataset> (default ~/.cache/vipant/data).`

  static override examples = [
    '<%= config.bin %> fetch esc50 ~/data/ESC-50 -o esc50.arrow',
    '<%= config.bin %> fetch us8k ~/data/UrbanSound8K | <%= config.bin %> mel -o us8k-mel.arrow',
    '<%= config.bin %> fetch clotho ~/data/clotho --split evaluation | <%= config.bin %> inspect',
    '<%= config.bin %> fetch audioset ~/data/audioset --csv balanced_train_segments.csv',
    '<%= config.bin %> fetch folder ~/Music/field-recordings -o mine.arrow',
  ]

  static override args = {
    dataset: requiredArg('dataset layout', Object.keys(DATASETS)),
    dir: arg('dataset directory (or a file, for "folder")'),
  }

  static override flags = {
    output: Flags.string({char: 'o', description: 'write the table here (.arrow: IPC file; else IPC stream); default stdout'}),
    split: Flags.string({description: 'only this split (clotho: development|validation|evaluation; audiocaps: train|val|test; audioset: CSV stem)'}),
    csv: Flags.string({description: 'AudioSet/AudioCaps metadata file to read instead of those found in DIR'}),
    'audio-dir': Flags.string({description: 'folder holding the audio files, if not the layout\'s default'}),
    ontology: Flags.string({description: 'AudioSet ontology.json (default DIR/ontology.json)'}),
    strict: Flags.boolean({description: 'fail when a listed clip is missing on disk'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Fetch)
    const dataset = args.dataset as DatasetName
    const dir = args.dir ?? datasetHome(dataset)
    if (!args.dir && !existsSync(dir)) {
      throw new UserError(`${dataset} is not in ${dir}: name its directory (vipant fetch ${dataset} DIR)`)
    }
    const options = {split: flags.split, csv: flags.csv, audioDir: flags['audio-dir'], ontology: flags.ontology}
    const input = indexTableInput([{dataset, dir}], options, this.version)
    const bar = progress('indexing', undefined)
    const counts = {ok: 0, missing: 0}
    async function* counted() {
      for await (const batch of input.batches) {
        const status = batch.getChild('status')!
        for (let i = 0; i < batch.numRows; i++) {
          const s = status.get(i) as 'ok' | 'missing'
          counts[s]++
          if (s === 'missing' && flags.strict) {
            throw new UserError(`${batch.getChild('path')!.get(i)}: listed in the metadata but not on disk (--strict)`)
          }
        }
        yield batch
        bar.tick({detail: `${counts.missing} missing`})
      }
    }
    try {
      await writeAll(openTableOutput(input.schema, flags.output), counted())
    } finally {
      bar.stop()
    }
    const missing = counts.missing > 0 ? `, ${counts.missing} missing on disk (status "missing")` : ''
    process.stderr.write(`fetch ${dataset}: ${counts.ok + counts.missing} clips, ${counts.ok} on disk${missing}\n`)
  }
}
