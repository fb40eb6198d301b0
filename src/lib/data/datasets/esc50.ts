import path from 'node:path'
import {readCsvRows} from '../csv.js'
import {indexRow, type DatasetSource} from '../index-row.js'
import {audioRoot, fileStatus, isFile, requireFile, stem} from '../paths.js'

const metadata = (dir: string) => path.join(dir, 'meta', 'esc50.csv')

export const esc50: DatasetSource = {
  description: 'ESC-50: 2000 five-second environmental recordings, 50 classes in 5 folds',
  layout: 'DIR/meta/esc50.csv (filename,fold,target,category,...) and DIR/audio/<filename>',
  options: ['audioDir'],
  detect: (dir) => isFile(metadata(dir)),
  // meta/esc50.csv's category by target.
  classes: [
    'dog',
    'rooster',
    'pig',
    'cow',
    'frog',
    'cat',
    'hen',
    'insects',
    'sheep',
    'crow',
    'rain',
    'sea_waves',
    'crackling_fire',
    'crickets',
    'chirping_birds',
    'water_drops',
    'wind',
    'pouring_water',
    'toilet_flush',
    'thunderstorm',
    'crying_baby',
    'sneezing',
    'clapping',
    'breathing',
    'coughing',
    'footsteps',
    'laughing',
    'brushing_teeth',
    'snoring',
    'drinking_sipping',
    'door_wood_knock',
    'mouse_click',
    'keyboard_typing',
    'door_wood_creaks',
    'can_opening',
    'washing_machine',
    'vacuum_cleaner',
    'clock_alarm',
    'clock_tick',
    'glass_breaking',
    'helicopter',
    'chainsaw',
    'siren',
    'car_horn',
    'engine',
    'train',
    'church_bells',
    'airplane',
    'fireworks',
    'hand_saw',
  ],
  async *rows(dir, options) {
    const csv = requireFile(metadata(dir), 'ESC-50 metadata')
    const audio = audioRoot(options, path.join(dir, 'audio'))
    for await (const row of readCsvRows(csv, ['filename', 'fold', 'target', 'category'])) {
      const file = path.join(audio, row.text('filename'))
      yield indexRow({
        id: stem(file),
        dataset: 'esc50',
        path: file,
        status: fileStatus(file),
        fold: row.integer('fold'),
        label: row.integer('target'),
        class: row.text('category'),
      })
    }
  },
}
