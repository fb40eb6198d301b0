import path from 'node:path'
import {readCsvRows} from '../csv.js'
import {indexRow, type DatasetSource} from '../index-row.js'
import {audioRoot, fileStatus, isFile, requireFile, stem} from '../paths.js'

const metadata = (dir: string) => path.join(dir, 'metadata', 'UrbanSound8K.csv')

export const us8k: DatasetSource = {
  description: 'UrbanSound8K: 8732 urban sound excerpts of up to 4 s, 10 classes in 10 folds',
  layout:
    'DIR/metadata/UrbanSound8K.csv (slice_file_name,fsID,start,end,salience,fold,classID,class) and DIR/audio/fold<fold>/<slice_file_name>',
  options: ['audioDir'],
  detect: (dir) => isFile(metadata(dir)),
  // metadata/UrbanSound8K.csv's class by classID.
  classes: [
    'air_conditioner',
    'car_horn',
    'children_playing',
    'dog_bark',
    'drilling',
    'engine_idling',
    'gun_shot',
    'jackhammer',
    'siren',
    'street_music',
  ],
  async *rows(dir, options) {
    const csv = requireFile(metadata(dir), 'UrbanSound8K metadata')
    const audio = audioRoot(options, path.join(dir, 'audio'))
    for await (const row of readCsvRows(csv, ['slice_file_name', 'start', 'end', 'fold', 'classID', 'class'])) {
      const fold = row.integer('fold')
      const file = path.join(audio, `fold${fold}`, row.text('slice_file_name'))
      yield indexRow({
        id: stem(file),
        dataset: 'us8k',
        path: file,
        status: fileStatus(file),
        fold,
        label: row.integer('classID'),
        class: row.text('class'),
        // Offsets of the excerpt in its Freesound source recording, not within the slice file.
        start: row.number('start'),
        end: row.number('end'),
      })
    }
  },
}
