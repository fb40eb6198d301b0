/**
 * Positional embeddings of a patch grid: a class row followed by a (rows, cols) grid flattened row-major, rows being
 * time for audio. VIP-ANT adapts them when the grid changes: from CLIP's 7x7 at VA start (docs/method.md §5.4,
 * `interp_clip_vp_embedding`) and from the checkpoint's grid to the current max_len (§5.5, `load_pos_embedding`).
 * These work on checkpoint tensors, once, at load time.
 */
import type {Grid} from '../checkpoint/audio-config.js'
import type {Tensor} from '../checkpoint/tensor.js'
import {UserError} from '../util/errors.js'

/**
 * `load_pos_embedding` (cvap/module/encoder/audio_head.py) with bop = 1: as is for an equal grid; when the columns
 * agree and fewer positions are needed, the class row plus the grid rows from time row 6 on (an offset VIP-ANT
 * hard-codes; its first-rows branch needs equal grids, so never runs); bilinearly resized otherwise.
 */
export function loadPosEmbedding(emb: Tensor, oldGrid: Grid, newGrid: Grid): Tensor {
  const [count, width] = emb.shape
  if (count !== oldGrid[0] * oldGrid[1] + 1) {
    throw new UserError(`positional embedding has ${count} rows, expected 1 + ${oldGrid[0]}x${oldGrid[1]}`)
  }
  if (newGrid[0] === oldGrid[0] && newGrid[1] === oldGrid[1]) return emb
  const required = newGrid[0] * newGrid[1]
  if (newGrid[1] === oldGrid[1] && required + 1 <= count) {
    const start = 6 * oldGrid[1] + 1
    // VIP-ANT's torch slice would come back short here and fail when the head loads it.
    if (start + required > count) {
      throw new UserError(
        `a ${newGrid[0]}-row grid cannot be sliced from the checkpoint's ${oldGrid[0]} rows starting at row 6 ` +
          `(VIP-ANT's rule for shorter inputs); use an input length of at most ${oldGrid[0] - 6} patch rows, or the full length`,
      )
    }
    const data = new Float32Array((required + 1) * width)
    data.set(emb.data.subarray(0, width)) // class row
    data.set(emb.data.subarray(start * width, (start + required) * width), width)
    return {shape: [required + 1, width], dtype: 'float32', data}
  }
  return resizeGrid(emb, oldGrid, newGrid)
}

/** `interp_clip_vp_embedding`: a square grid (CLIP's 7x7 for ViT-B/32) resized to `grid`, unless already that size. */
export function interpClipVpEmbedding(emb: Tensor, grid: Grid): Tensor {
  const side = Math.round(Math.sqrt(emb.shape[0] - 1))
  if (side * side + 1 !== emb.shape[0])
    throw new UserError(`positional embedding has ${emb.shape[0]} rows, not 1 + a square`)
  if (emb.shape[0] === grid[0] * grid[1] + 1) return emb
  return resizeGrid(emb, [side, side], grid)
}

/**
 * Class row kept, grid resized like `F.interpolate(mode="bilinear", align_corners=False)`: source coordinate
 * (dst + 0.5) * in / out - 0.5, clamped at 0, the upper neighbour clamped at the edge, no antialiasing.
 */
export function resizeGrid(emb: Tensor, oldGrid: Grid, newGrid: Grid): Tensor {
  const width = emb.shape[1]
  const [inRows, inCols] = oldGrid
  const [outRows, outCols] = newGrid
  const taps = (dst: number, inSize: number, outSize: number) => {
    const src = Math.max((dst + 0.5) * (inSize / outSize) - 0.5, 0)
    const i0 = Math.floor(src)
    return {i0, i1: Math.min(i0 + 1, inSize - 1), lambda: src - i0}
  }
  const data = new Float32Array((outRows * outCols + 1) * width)
  data.set(emb.data.subarray(0, width))
  const row = (r: number, c: number) => (1 + r * inCols + c) * width
  for (let r = 0; r < outRows; r++) {
    const y = taps(r, inRows, outRows)
    for (let c = 0; c < outCols; c++) {
      const x = taps(c, inCols, outCols)
      const [a, b, d, e] = [row(y.i0, x.i0), row(y.i0, x.i1), row(y.i1, x.i0), row(y.i1, x.i1)]
      const out = (1 + r * outCols + c) * width
      for (let k = 0; k < width; k++) {
        const top = (1 - x.lambda) * emb.data[a + k] + x.lambda * emb.data[b + k]
        const bottom = (1 - x.lambda) * emb.data[d + k] + x.lambda * emb.data[e + k]
        data[out + k] = (1 - y.lambda) * top + y.lambda * bottom
      }
    }
  }
  return {shape: [outRows * outCols + 1, width], dtype: 'float32', data}
}
