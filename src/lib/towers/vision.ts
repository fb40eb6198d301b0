/**
 * CLIP's image tower (openai/CLIP model.py `VisionTransformer`), frozen in VIP-ANT's VA stage. Input: (B, R, R, 3)
 * normalised floats in HWC order, as the mel stage's `images` column holds them (docs/method.md §4). Output: (B, E),
 * not normalised.
 */
import type {StateDict} from '../checkpoint/tensor.js'
import {UserError} from '../util/errors.js'
import {join, type TowerOps} from './ops.js'
import {vitTrunk, type VitNames} from './transformer.js'

/** CLIP's names under `prefix` (`visual` in a CLIP). */
export function visionNames(prefix: string): VitNames {
  const name = (module: string) => join(prefix, module)
  return {
    conv1: name('conv1.weight'),
    class_embedding: name('class_embedding'),
    positional_embedding: name('positional_embedding'),
    ln_pre: name('ln_pre'),
    transformer: name('transformer'),
    ln_post: name('ln_post'),
    proj: name('proj'),
  }
}

export interface VisionGeometry {
  width: number
  patchSize: number
  /** Patches per side: the positional embedding is 1 + grid^2 rows. */
  grid: number
}

/** What the weights say of the input; a ViT whose positions are not 1 + a square grid of 3-channel patches is refused. */
export function visionGeometry(state: StateDict, names: VitNames, prefix: string): VisionGeometry {
  const shape = (name: string) => {
    const t = state.get(name)
    if (!t) throw new UserError(`weights have no ${name}`)
    return t.shape
  }
  const [width, channels, patchSize] = shape(names.conv1)
  const [positions, posWidth] = shape(names.positional_embedding)
  const grid = Math.round(Math.sqrt(positions - 1))
  if (channels !== 3 || grid * grid + 1 !== positions || posWidth !== width) {
    throw new UserError(`${prefix}: not a CLIP ViT (conv1 [${shape(names.conv1)}], positions ${positions})`)
  }
  return {width, patchSize, grid}
}

export function visionTower<V>(
  ops: TowerOps<V>,
  names: VitNames,
  {patchSize: P, grid: G}: VisionGeometry,
  image: V,
): V {
  // Non-overlapping patches: stride = patch size.
  const tokens = ops.patchEmbedding(names.conv1, image, {layout: 'hwc', patchSize: P, stride: [P, P], grid: [G, G]}) // shape = [B, grid^2, W]
  return vitTrunk(ops, names, tokens, ops.positionalEmbedding(names.positional_embedding))
}
