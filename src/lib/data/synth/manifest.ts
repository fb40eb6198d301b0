/**
 * The synthetic world's metadata files, written by `vipant synth` and read by the `synth` dataset indexer:
 * world.json (how it was made), concepts.csv (what each class looks and sounds like) and one manifest CSV
 * per split, one row per scene. Paths in them are relative to the world's folder.
 */
import {CAPTIONS_PER_IMAGE} from './captions.js'
import {describeSignature, phrase, type Concept} from './concepts.js'

export const WORLD_FILE = 'world.json'
export const CONCEPTS_FILE = 'concepts.csv'
export const manifestFile = (split: string) => `${split}.csv`

export const CAPTION_COLUMNS = Array.from({length: CAPTIONS_PER_IMAGE}, (_, i) => `caption_${i + 1}`)
export const MANIFEST_COLUMNS = ['id', 'label', 'class', 'audio', 'frames', ...CAPTION_COLUMNS]
/** Joins a scene's picture paths in the `frames` field. */
export const FRAME_SEPARATOR = ';'

export interface ManifestRow {
  id: string
  label: number
  class: string
  audio: string
  frames: string[]
  /** Empty for scenes whose captions no stage may use (va). */
  captions: string[] | null
}

/** RFC 4180: quoted only when it has to be. */
function csvField(value: string | number): string {
  const text = String(value)
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

const csvLine = (fields: (string | number)[]) => fields.map(csvField).join(',') + '\n'

export function manifestCsv(rows: readonly ManifestRow[]): string {
  return (
    csvLine(MANIFEST_COLUMNS) +
    rows
      .map((r) =>
        csvLine([
          r.id,
          r.label,
          r.class,
          r.audio,
          r.frames.join(FRAME_SEPARATOR),
          ...(r.captions ?? CAPTION_COLUMNS.map(() => '')),
        ]),
      )
      .join('')
  )
}

export function conceptsCsv(concepts: readonly Concept[]): string {
  return (
    csvLine(['label', 'class', 'phrase', 'rgb', 'shape', 'sound']) +
    concepts
      .map((c, label) => csvLine([label, c.name, phrase(c), c.rgb.join(' '), c.shape, describeSignature(c.sound)]))
      .join('')
  )
}
