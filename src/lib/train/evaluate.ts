/**
 * In-training evaluation on held-out clips, with the evaluation code the commands use. Inputs are deterministic
 * (middle frame, first caption, centre crop, no SpecAugment; docs/method.md §11). Which metric depends on the table:
 * exactly 5 captions per clip -> audio-text (or image-text) retrieval R@1/5/10 (§8.2, as VALMonitor does on AudioCaps val);
 * class labels against text -> zero-shot top-1/top-5 over the classes' prompts (§8.1's raw scores, and cosine; the
 * text tower frozen for audio-text, trained for image-text); otherwise each
 * clip's pair against all others' -> top-1/top-5 both ways (§8.3, VA's image<->audio monitor). Percentages. The towers
 * run on an engine: TensorFlow.js here, ONNX Runtime in onnx-evaluation.ts.
 */
import {classEmbeddings, classificationMetrics, classText, rankOf, scoreClips} from '../eval/classification.js'
import {CAPTIONS_PER_CLIP, retrievalMetrics, similarity} from '../eval/retrieval.js'
import type {PairModel} from './pair-model.js'
import {embedAll, tensorValues} from './pair-model.js'
import type {Clip, TowerName} from './pair-table.js'
import {clipItem, type Item, type ItemOptions} from './sampler.js'

/**
 * A tower's (E) embeddings of items, in order, not normalised: a trainable tower's forward pass with the current
 * weights; for a frozen tower, texts through it and anything else its stored outputs.
 */
export type EvalEmbed = (tower: TowerName, items: readonly Item[]) => Promise<Float32Array[]>

/** An engine for evaluation's forward passes, opened per evaluation (the weights change in between) and closed after. */
export interface EvalEngine {
  /** For the log, e.g. "tfjs". */
  name: string
  open(): Promise<{embed: EvalEmbed; close(): Promise<void>}>
}

/** The towers on TensorFlow.js, in this thread, as training runs them. */
export function tfjsEngine(model: PairModel): EvalEngine {
  const embed: EvalEmbed = (tower, items) =>
    embedAll(
      (chunk) =>
        tensorValues(
          model.trainable[tower] || typeof items[0] !== 'string'
            ? model.embed(tower, chunk)
            : model.embedFrozen(tower, chunk),
        ),
      items,
    )
  return {name: 'tfjs', open: async () => ({embed, close: async () => {}})}
}

export async function evaluatePair(
  embed: EvalEmbed,
  clips: readonly Clip[],
  [left, right]: [TowerName, TowerName],
  options: ItemOptions & {prompt: string},
): Promise<Record<string, number>> {
  const embedLeft = () =>
    embed(
      left,
      clips.map((c) => clipItem(c, left, options, null)),
    )
  if (right === 'text' && clips.every((c) => (c.captionEmb ?? c.captions)!.length === CAPTIONS_PER_CLIP)) {
    const texts = clips.flatMap((c): Item[] => c.captionEmb ?? c.captions!)
    const {audioToText, textToAudio} = retrievalMetrics(similarity(await embedLeft(), await embed('text', texts)))
    return {
      [`${left[0]}2t_R@1`]: audioToText.r1,
      [`${left[0]}2t_R@5`]: audioToText.r5,
      [`${left[0]}2t_R@10`]: audioToText.r10,
      [`t2${left[0]}_R@1`]: textToAudio.r1,
      [`t2${left[0]}_R@5`]: textToAudio.r5,
      [`t2${left[0]}_R@10`]: textToAudio.r10,
    }
  }
  // The trainer keeps a frozen text tower whenever there are clips to evaluate against text.
  if (right === 'text' && clips.every((c) => c.label !== undefined && c.className !== undefined)) {
    const names = new Map(clips.map((c) => [c.label!, c.className!]))
    const count = Math.max(...names.keys()) + 1
    const prompts = Array.from({length: count}, (_, label) =>
      classText(options.prompt, names.get(label) ?? `class ${label}`),
    )
    const text = [await embed('text', prompts)]
    const clipEmb = await embedLeft()
    // Raw dot products are the paper's protocol; cosine is what the loss trains, and is blind to the text norms.
    const zeroShot = (cosine: boolean) => {
      const scores = scoreClips(clipEmb, classEmbeddings(text, cosine), cosine)
      return classificationMetrics(
        clips.map((c, i) => ({label: c.label!, fold: null, scores: scores[i]})),
        count,
      )
    }
    const [raw, cosine] = [zeroShot(false), zeroShot(true)]
    return {
      zs_top1: 100 * raw.accuracy,
      zs_top5: 100 * raw.top5,
      zs_cos_top1: 100 * cosine.accuracy,
      zs_cos_top5: 100 * cosine.top5,
    }
  }
  const a = await embedLeft()
  const b = await embed(
    right,
    clips.map((c) => clipItem(c, right, options, null)),
  )
  const ranks = (rows: Float64Array[]) => rows.map((row, i) => rankOf(row, i))
  const topk = (rs: number[], k: number) => (100 * rs.filter((r) => r < k).length) / rs.length
  const [forward, backward] = [ranks(similarity(a, b)), ranks(similarity(b, a))]
  const [l, r] = [left[0], right[0]]
  return {
    [`${l}2${r}_top1`]: topk(forward, 1),
    [`${l}2${r}_top5`]: topk(forward, 5),
    [`${r}2${l}_top1`]: topk(backward, 1),
    [`${r}2${l}_top5`]: topk(backward, 5),
  }
}
