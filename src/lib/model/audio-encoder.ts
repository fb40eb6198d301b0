/**
 * VIP-ANT's audio tower (`CLIPAudioHead`: ViTPreEncoder, transformer, ViTPostEncoder, CLIPMisc in cvap/module/val.py;
 * docs/method.md §5.3). A CLIP ViT over the (T, 128) log-mel image, time as height, with overlapping patches. Input: (B, T, 128)
 * normalised log-mel; output: (B, E).
 */
import * as tf from '@tensorflow/tfjs-core'
import type {AudioConfig} from '../checkpoint/audio-config.js'
import type {StateDict, Tensor} from '../checkpoint/tensor.js'
import {UserError} from '../util/errors.js'
import {asIs, laidOut, matMulFast, own, prefixed, type Parameter} from './parameters.js'
import {loadPosEmbedding, positionResolution, type Grid} from './pos-embedding.js'
import {LayerNorm, param, shapeOf, Transformer} from './transformer.js'

/** VIP-ANT's stride (run scripts' `model.audio.pre_encoder.stride=[16,24]`), which no weight shape records. */
const VIPANT_STRIDE: [number, number] = [16, 24]
const MEL_BINS = 128

export class AudioEncoder {
  /** Positional embeddings adapted to each input length seen other than the trained one, by grid rows. */
  private readonly positions = new Map<number, tf.Tensor2D>()

  private constructor(
    /**
     * The patch conv as a matMul: [C, P*P, W] from its [W, C, P, P] weight. VIP-ANT's forward averages it over C
     * (3 -> 1): for inference that is done once (C = 1 here); to train, the 3-channel parameter is kept, as in PyTorch.
     */
    readonly conv1: tf.Tensor3D,
    readonly class_embedding: tf.Tensor1D,
    /** For the grid `config` describes; adapted per other input length by `loadPosEmbedding`. */
    readonly positional_embedding: tf.Tensor2D,
    readonly ln_pre: LayerNorm,
    readonly transformer: Transformer,
    readonly ln_post: LayerNorm,
    readonly proj: tf.Tensor2D,
    readonly config: AudioConfig,
  ) {}

  /**
   * From VIP-ANT audio-head names (docs/method.md §9.3). Without `config` the trained grid is read from the positional
   * embedding's length, assuming VIP-ANT's stride (16, 24) and 128 mel bins (the resolution is then the shortest
   * input with that grid).
   */
  static fromStateDict(state: StateDict, config?: AudioConfig, trainable = false): AudioEncoder {
    const [width, channels, patchSize, patchSize2] = shapeOf(state, 'pre_encoder.conv1.weight')
    const pos = state.get('misc.positional_embedding')
    if (!pos) throw new UserError('weights have no misc.positional_embedding')
    const stride = config?.stride ?? VIPANT_STRIDE
    const cols = Math.floor((MEL_BINS - patchSize) / stride[1]) + 1
    const rows = (pos.shape[0] - 1) / cols
    const trained = config ?? {resolution: [(rows - 1) * stride[0] + patchSize, MEL_BINS], patchSize, stride}
    const grid = positionResolution(trained.resolution, trained.patchSize, trained.stride)
    if (patchSize2 !== patchSize || trained.patchSize !== patchSize || pos.shape[0] !== grid[0] * grid[1] + 1 || pos.shape[1] !== width) {
      throw new UserError(
        `audio head: conv1 [${shapeOf(state, 'pre_encoder.conv1.weight')}] and positional embedding [${pos.shape}] ` +
          `do not fit resolution [${trained.resolution}], patch ${trained.patchSize}, stride [${trained.stride}]`,
      )
    }
    const conv1 = tf.tidy(() => {
      const w = param(state, 'pre_encoder.conv1.weight') // shape = [W, C, P, P]
      const kept = trainable ? w : tf.mean(w, 1, true) // shape = [W, C or 1, P, P]
      return tf.transpose(tf.reshape(kept, [width, trainable ? channels : 1, patchSize * patchSize]), [1, 2, 0]) // shape = [C, P*P, W], rows (time, freq) row-major
    }) as tf.Tensor3D
    return new AudioEncoder(
      own(conv1, trainable),
      own(param(state, 'misc.class_embedding') as tf.Tensor1D, trainable),
      own(tf.tensor2d(pos.data, pos.shape as [number, number]), trainable),
      LayerNorm.fromStateDict(state, 'pre_encoder.ln', trainable),
      Transformer.fromStateDict(state, 'encoder', trainable),
      LayerNorm.fromStateDict(state, 'post_encoder.ln', trainable),
      own(param(state, 'post_encoder.proj') as tf.Tensor2D, trainable),
      trained,
    )
  }

  /** VIP-ANT's names and layout (docs/method.md §9.3). */
  parameters(): Parameter[] {
    const [C, , W] = this.conv1.shape
    const P = this.patchSize
    return [
      laidOut('pre_encoder.conv1.weight', [this.conv1], 4, ([w]) => tf.transpose(tf.reshape(w, [C, P, P, W]), [3, 0, 1, 2])),
      ...prefixed('pre_encoder.ln', this.ln_pre.parameters()),
      ...prefixed('encoder', this.transformer.parameters()),
      asIs('post_encoder.proj', this.proj),
      ...prefixed('post_encoder.ln', this.ln_post.parameters()),
      asIs('misc.positional_embedding', this.positional_embedding),
      asIs('misc.class_embedding', this.class_embedding),
    ]
  }

  get width(): number {
    return this.conv1.shape[2]
  }

  get patchSize(): number {
    return this.config.patchSize
  }

  get outputDim(): number {
    return this.proj.shape[1]
  }

  /** Patch grid for T frames: rows (time) by cols (frequency). */
  grid(frames: number): Grid {
    return positionResolution([frames, MEL_BINS], this.patchSize, this.config.stride)
  }

  /** The grid the positional embedding was trained for. */
  get trainedGrid(): Grid {
    return positionResolution(this.config.resolution, this.patchSize, this.config.stride)
  }

  /** x: (B, T, 128) normalised log-mel; returns (B, E), not normalised. */
  forward(x: tf.Tensor3D): tf.Tensor2D {
    const [B, T, F] = x.shape
    if (F !== MEL_BINS || T < this.patchSize) throw new UserError(`audio tower expects (B, T >= ${this.patchSize}, ${MEL_BINS}) input, got (${x.shape})`)
    const [rows, cols] = this.grid(T)
    const [P, W] = [this.patchSize, this.width]
    const positional = this.positionalEmbedding([rows, cols])
    return tf.tidy(() => {
      // The patches overlap (stride < patch), so they are gathered rather than reshaped out of the image.
      const patches = tf.reshape(tf.gather(tf.reshape(x, [B, T * F]), patchIndex([rows, cols], P, this.config.stride), 1), [
        B * rows * cols,
        P * P,
      ]) // shape = [B*rows*cols, P*P]
      const kernel = this.conv1.shape[0] === 1 ? tf.reshape(this.conv1, [P * P, W]) : tf.mean(this.conv1, 0) // shape = [P*P, W]
      let h = tf.reshape(matMulFast(patches, kernel as tf.Tensor2D), [B, rows * cols, W]) // shape = [B, rows*cols, W], token t*cols + f
      h = tf.concat([tf.broadcastTo(tf.reshape(this.class_embedding, [1, 1, W]), [B, 1, W]), h], 1) // shape = [B, 1 + rows*cols, W]
      h = tf.add(h, positional)
      const L = rows * cols + 1
      h = tf.reshape(this.ln_pre.forward(tf.reshape(h, [B * L, W])), [B, L, W])
      h = this.transformer.forward(h as tf.Tensor3D)
      const cls = tf.reshape(tf.slice(h, [0, 0, 0], [B, 1, W]), [B, W]) as tf.Tensor2D
      return matMulFast(this.ln_post.forward(cls), this.proj)
    })
  }

  /** The embedding for `grid`: as trained, or under VIP-ANT's rules for another length (docs/method.md §5.5). */
  private positionalEmbedding(grid: Grid): tf.Tensor2D {
    if (grid[0] === this.trainedGrid[0] && grid[1] === this.trainedGrid[1]) return this.positional_embedding
    if (this.positional_embedding instanceof tf.Variable) {
      throw new UserError(`a tower in training takes ${this.config.resolution[0]}-frame log-mels (its positional embedding's grid)`)
    }
    let pos = this.positions.get(grid[0])
    if (!pos) {
      const stored: Tensor = {shape: this.positional_embedding.shape, dtype: 'float32', data: this.positional_embedding.dataSync() as Float32Array}
      const adapted = loadPosEmbedding(stored, this.trainedGrid, grid)
      pos = tf.keep(tf.tensor2d(adapted.data, adapted.shape as [number, number])) // outlives any caller's tidy
      this.positions.set(grid[0], pos)
    }
    return pos
  }

  dispose(): void {
    tf.dispose([this.conv1, this.class_embedding, this.positional_embedding, this.proj, ...this.positions.values()])
    for (const part of [this.ln_pre, this.transformer, this.ln_post]) part.dispose()
  }
}

/**
 * Flat (t * 128 + f) offsets of every patch pixel, patch-major in (row, col) order and within a patch in (time,
 * freq) order: the layout of conv1's [P, P] kernel.
 */
function patchIndex([rows, cols]: Grid, P: number, stride: [number, number]): tf.Tensor1D {
  const index = new Int32Array(rows * cols * P * P)
  let at = 0
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      for (let i = 0; i < P; i++) {
        const base = (r * stride[0] + i) * MEL_BINS + c * stride[1]
        for (let j = 0; j < P; j++) index[at++] = base + j
      }
    }
  }
  return tf.tensor1d(index, 'int32')
}
