/** The three towers of a run, and which file supplies each. */
import {resolveModel} from '../checkpoint/zoo.js'

export type TowerName = 'audio' | 'text' | 'image'

/**
 * Which file supplies each tower: audio from `model` (a VIP-ANT release, a vipant checkpoint); text and image from
 * `model` when it carries CLIP weights, else from `clipModel` (`--clip`) (VIP-ANT releases hold only audio). Each file is opened once
 * (`open`, by its resolved path); `use` takes each tower's supplier in turn, before the next file is opened, and
 * refuses one that lacks the tower.
 */
export async function supplyTowers<F>(
  needed: readonly TowerName[],
  files: {model: string; clipModel: string},
  open: (file: string) => Promise<F>,
  holdsClipModel: (opened: F) => boolean,
  use: (tower: TowerName, supplier: {file: string; opened: F}) => void,
): Promise<void> {
  const cache = new Map<string, F>()
  const load = async (name: string) => {
    const file = await resolveModel(name)
    if (!cache.has(file)) cache.set(file, await open(file))
    return {file, opened: cache.get(file)!}
  }
  for (const tower of needed) {
    const primary = await load(files.model)
    use(tower, tower === 'audio' || holdsClipModel(primary.opened) ? primary : await load(files.clipModel))
  }
}
