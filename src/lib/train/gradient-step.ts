/**
 * One training step's loss and gradients, before the optimiser: in this thread, or split over worker threads
 * (data-parallel.ts). Both return the gradient of the same loss over the whole batch.
 */
import * as tf from '@tensorflow/tfjs-core'
import {contrastiveLoss} from './loss.js'
import type {Gradients} from './optimizer.js'
import type {PairModel} from './pair-model.js'
import type {TowerName} from './pair-table.js'
import type {Item} from './sampler.js'

export interface StepInputs {
  towers: [TowerName, TowerName]
  items: [Item[], Item[]]
}

export interface GradientStep {
  /** The batch's loss and the gradient of every trainable part (the caller disposes them). */
  run(inputs: StepInputs): Promise<{loss: number; grads: Gradients}>
  close(): Promise<void>
}

/** The whole batch on one tape in this thread. */
export function localStep(model: PairModel, variables: tf.Variable[]): GradientStep {
  return {
    run: async ({towers: [left, right], items: [leftItems, rightItems]}) => {
      const {value, grads} = tf.variableGrads(
        () => contrastiveLoss(model.embed(left, leftItems), model.embed(right, rightItems), model.logitScale),
        variables,
      )
      const loss = value.dataSync()[0]
      value.dispose()
      return {loss, grads: new Map(variables.map((v) => [v, grads[v.name]]))}
    },
    close: async () => {},
  }
}
