/** VIP-ANT's audio tower (src/lib/towers/audio.ts) on tfjs: its weights, trainable or not. */
import * as tf from '@tensorflow/tfjs-core'
import {NUM_MEL_BINS as MEL_BINS} from '../audio/mel-config.js'
import {audioGrid, type AudioConfig, type Grid} from '../checkpoint/audio-config.js'
import type {StateDict, Tensor} from '../checkpoint/tensor.js'
import {AUDIO_NAMES as NAMES, audioTower, patchGrid} from '../towers/audio.js'
import {loadPosEmbedding} from '../towers/pos-embedding.js'
import {UserError} from '../util/errors.js'
import {TfjsOps} from './ops.js'
import {asIs, laidOut, own, prefixed, type Parameter} from './parameters.js'
import {LayerNorm, param, shapeOf, Transformer} from './transformer.js'

/** VIP-ANT's stride (run scripts' `model.audio.pre_encoder.stride=[16,24]`), which no weight shape records. */
const VIPANT_STRIDE: [number, number] = [16, 24]

export class AudioEncoder {
  /** Positional embeddings adapted to each input length seen other than the trained one, by grid rows. */
  private readonly positions = new Map<number, tf.Tensor2D>()
  private readonly ops: TfjsOps

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
  ) {
    const modules: [string, tf.Tensor | LayerNorm | Transformer][] = [
      [NAMES.conv1, conv1],
      [NAMES.class_embedding, class_embedding],
      [NAMES.positional_embedding, positional_embedding],
      [NAMES.ln_pre, ln_pre],
      [NAMES.transformer, transformer],
      [NAMES.ln_post, ln_post],
      [NAMES.proj, proj],
    ]
    this.ops = new TfjsOps(new Map(modules), (grid) => this.positionalEmbedding(grid))
  }

  /**
   * From VIP-ANT audio-head names (docs/method.md §9.3). Without `config` the trained grid is read from the positional
   * embedding's length, assuming VIP-ANT's stride (16, 24) and 128 mel bins (the resolution is then the shortest
   * input with that grid).
   */
  static fromStateDict(state: StateDict, config?: AudioConfig, trainable = false): AudioEncoder {
    const [width, channels, patchSize, patchSize2] = shapeOf(state, NAMES.conv1)
    const pos = state.get(NAMES.positional_embedding)
    if (!pos) throw new UserError(`weights have no ${NAMES.positional_embedding}`)
    const stride = config?.stride ?? VIPANT_STRIDE
    const {cols} = audioGrid({resolution: [patchSize, MEL_BINS], patchSize, stride})
    const rows = (pos.shape[0] - 1) / cols
    const trained = config ?? {resolution: [(rows - 1) * stride[0] + patchSize, MEL_BINS], patchSize, stride}
    const grid = audioGrid(trained)
    if (
      patchSize2 !== patchSize ||
      trained.patchSize !== patchSize ||
      pos.shape[0] !== grid.rows * grid.cols + 1 ||
      pos.shape[1] !== width
    ) {
      throw new UserError(
        `audio head: conv1 [${shapeOf(state, NAMES.conv1)}] and positional embedding [${pos.shape}] ` +
          `do not fit resolution [${trained.resolution}], patch ${trained.patchSize}, stride [${trained.stride}]`,
      )
    }
    const conv1 = tf.tidy(() => {
      const w = param(state, NAMES.conv1) // shape = [W, C, P, P]
      const kept = trainable ? w : tf.mean(w, 1, true) // shape = [W, C or 1, P, P]
      return tf.transpose(tf.reshape(kept, [width, trainable ? channels : 1, patchSize * patchSize]), [1, 2, 0]) // shape = [C, P*P, W], rows (time, freq) row-major
    }) as tf.Tensor3D
    return new AudioEncoder(
      own(conv1, trainable),
      own(param(state, NAMES.class_embedding) as tf.Tensor1D, trainable),
      own(tf.tensor2d(pos.data, pos.shape as [number, number]), trainable),
      LayerNorm.fromStateDict(state, NAMES.ln_pre, trainable),
      Transformer.fromStateDict(state, NAMES.transformer, trainable),
      LayerNorm.fromStateDict(state, NAMES.ln_post, trainable),
      own(param(state, NAMES.proj) as tf.Tensor2D, trainable),
      trained,
    )
  }

  /** VIP-ANT's names and layout (docs/method.md §9.3). */
  parameters(): Parameter[] {
    const [C, , W] = this.conv1.shape
    const P = this.patchSize
    return [
      laidOut(NAMES.conv1, [this.conv1], 4, ([w]) => tf.transpose(tf.reshape(w, [C, P, P, W]), [3, 0, 1, 2])),
      ...prefixed(NAMES.ln_pre, this.ln_pre.parameters()),
      ...prefixed(NAMES.transformer, this.transformer.parameters()),
      asIs(NAMES.proj, this.proj),
      ...prefixed(NAMES.ln_post, this.ln_post.parameters()),
      asIs(NAMES.positional_embedding, this.positional_embedding),
      asIs(NAMES.class_embedding, this.class_embedding),
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
    return patchGrid(this.config, frames)
  }

  /** The grid the positional embedding was trained for. */
  get trainedGrid(): Grid {
    return patchGrid(this.config)
  }

  /** x: (B, T, 128) normalised log-mel; returns (B, E), not normalised. */
  forward(x: tf.Tensor3D): tf.Tensor2D {
    const [, T, F] = x.shape
    if (F !== MEL_BINS || T < this.patchSize)
      throw new UserError(`audio tower expects (B, T >= ${this.patchSize}, ${MEL_BINS}) input, got (${x.shape})`)
    return tf.tidy(() => audioTower(this.ops, this.config, this.grid(T), x) as tf.Tensor2D)
  }

  /** The embedding for `grid`: as trained, or under VIP-ANT's rules for another length (docs/method.md §5.5). */
  private positionalEmbedding(grid: Grid): tf.Tensor2D {
    if (grid[0] === this.trainedGrid[0] && grid[1] === this.trainedGrid[1]) return this.positional_embedding
    if (this.positional_embedding instanceof tf.Variable) {
      throw new UserError(
        `a tower in training takes ${this.config.resolution[0]}-frame log-mels (its positional embedding's grid)`,
      )
    }
    let pos = this.positions.get(grid[0])
    if (!pos) {
      const stored: Tensor = {
        shape: this.positional_embedding.shape,
        dtype: 'float32',
        data: this.positional_embedding.dataSync() as Float32Array,
      }
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
