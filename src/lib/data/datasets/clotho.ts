import path from 'node:path'
import {readCsvRows} from '../csv.js'
import {indexRow, type DatasetSource} from '../index-row.js'
import {audioRoot, fileStatus, isFile, stem} from '../paths.js'
import {chooseSplits, type SplitLayout} from '../splits.js'

const CAPTIONS = ['caption_1', 'caption_2', 'caption_3', 'caption_4', 'caption_5']

const layout: SplitLayout = {
  dataset: 'clotho',
  // `validation` only exists in Clotho v2.
  splits: ['development', 'validation', 'evaluation'],
  expected: (split) => `clotho_captions_${split}.csv`,
  find: (dir, split) => {
    const file = path.join(dir, layout.expected(split))
    return isFile(file) ? file : undefined
  },
}

export const clotho: DatasetSource = {
  description: 'Clotho: 15-30 s Freesound clips with 5 captions each (audio-text retrieval)',
  layout:
    'DIR/clotho_captions_{development,validation,evaluation}.csv (file_name,caption_1..caption_5) and DIR/<split>/<file_name>; --audio-dir replaces DIR for the audio',
  options: ['split', 'audioDir'],
  detect: (dir) => layout.splits.some((split) => layout.find(dir, split) !== undefined),
  async *rows(dir, options) {
    const audio = audioRoot(options, dir)
    for (const {split, file: csv} of chooseSplits(layout, dir, options.split)) {
      for await (const row of readCsvRows(csv, ['file_name', ...CAPTIONS])) {
        const file = path.join(audio, split, row.text('file_name'))
        yield indexRow({
          id: stem(file),
          dataset: 'clotho',
          path: file,
          status: fileStatus(file),
          split,
          captions: CAPTIONS.map((column) => row.text(column)),
        })
      }
    }
  },
}
