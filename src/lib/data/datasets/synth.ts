import path from 'node:path'
import {readCsvRows} from '../csv.js'
import {indexRow, type DatasetSource} from '../index-row.js'
import {fileStatus, isFile} from '../paths.js'
import {chooseSplits, type SplitLayout} from '../splits.js'
import {CAPTION_COLUMNS, FRAME_SEPARATOR, MANIFEST_COLUMNS, manifestFile, WORLD_FILE} from '../synth/manifest.js'
import {SPLITS} from '../synth/world.js'

const layout: SplitLayout = {
  dataset: 'synth',
  splits: SPLITS,
  expected: manifestFile,
  find: (dir, split) => {
    const file = path.join(dir, manifestFile(split))
    return isFile(file) ? file : undefined
  },
}

export const synth: DatasetSource = {
  description:
    'The miniature VIP-ANT world `vipant synth` writes: coloured shapes, their captions and their sounds (docs/demo-world.md)',
  layout:
    'DIR/world.json, DIR/{image-text,va,test}.csv (id,label,class,audio,frames,caption_1..caption_5) and DIR/<split>/<class>-<nnn>{.wav,.jpg,_f<k>.jpg}',
  options: ['split'],
  detect: (dir) => isFile(path.join(dir, WORLD_FILE)),
  async *rows(dir, options) {
    for (const {split, file: csv} of chooseSplits(layout, dir, options.split)) {
      for await (const row of readCsvRows(csv, MANIFEST_COLUMNS)) {
        const file = path.join(dir, row.text('audio'))
        const captions = CAPTION_COLUMNS.map((column) => row.text(column))
        yield indexRow({
          id: row.text('id'),
          dataset: 'synth',
          path: file,
          status: fileStatus(file),
          split,
          label: row.integer('label'),
          class: row.text('class'),
          captions: captions.every((c) => c === '') ? null : captions,
          frames: row
            .text('frames')
            .split(FRAME_SEPARATOR)
            .map((frame) => path.join(dir, frame)),
        })
      }
    }
  },
}
