import {UserError} from '../util/errors.js'
import {stem} from './paths.js'

export interface SplitFile {
  split: string
  file: string
}

export interface SplitLayout {
  dataset: string
  /** In the order rows are emitted when no split is asked for. */
  splits: readonly string[]
  /** The metadata file of a split in DIR, if there is one. */
  find(dir: string, split: string): string | undefined
  /** The file name(s) a split's metadata goes by, for error messages. */
  expected(split: string): string
}

/** The metadata files to read: the asked-for split's, or by default every split's that exists. */
export function chooseSplits(layout: SplitLayout, dir: string, requested: string | undefined): SplitFile[] {
  if (requested !== undefined) {
    if (!layout.splits.includes(requested)) {
      throw new UserError(`${layout.dataset} has no split "${requested}" (one of ${layout.splits.join(', ')})`)
    }
    const file = layout.find(dir, requested)
    if (file === undefined)
      throw new UserError(`${dir}: no ${layout.expected(requested)} (${layout.dataset} ${requested} split)`)
    return [{split: requested, file}]
  }
  const found = layout.splits.flatMap((split) => {
    const file = layout.find(dir, split)
    return file === undefined ? [] : [{split, file}]
  })
  if (found.length === 0) {
    throw new UserError(
      `${dir}: no ${layout.dataset} metadata (expected one of: ${layout.splits.map(layout.expected).join('; ')})`,
    )
  }
  return found
}

/** The split a metadata file given by path holds: its name without extension and VIP-ANT's `src_...` prefix. */
export function splitOfFile(file: string, vipantPrefix: string): string {
  const name = stem(file)
  return name.startsWith(vipantPrefix) ? name.slice(vipantPrefix.length) : name
}
