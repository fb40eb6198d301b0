import type {TableInput} from '../arrow/input.js'
import {stageOf} from '../arrow/provenance.js'
import type {Embedder} from '../towers/embedder.js'
import {requireFinite} from '../util/finite.js'
import {argmax, classEmbeddings, classificationMetrics, classText, scoreClips} from './classification.js'
import {evaluatedModels, type ZeroShotReport} from './report.js'
import {clipLabels, collectClips, resolveClasses, type Listing} from './zeroshot-input.js'

export interface ZeroShotSetup {
  /** A table carrying raw `audio_emb` and `label`/`class` (from the --data chain or a file). */
  scored: TableInput
  /** What the dataset's metadata listed, when the chain indexed it. */
  listing: Listing | null
  dataset: string
  templates: string[]
  classes?: string[]
  cosine: boolean
  embedder: Embedder
  backend: string
  version: string
}

export interface Prediction {
  id: string
  path: string | null
  fold: number | null
  /** null: the clip carried no label or class, so it is predicted but not scored. */
  label: number | null
  predicted: number
  scores: Float64Array
}

/** docs/method.md §8.1 end to end on embedded clips: class prompts, scores, pooled metrics, and the report stating the protocol. */
export async function evaluateZeroShot(
  setup: ZeroShotSetup,
): Promise<{report: ZeroShotReport; predictions: Prediction[]; classes: string[]}> {
  const {scored, listing, templates, embedder} = setup
  const {clips, failed, names} = await collectClips(scored)
  const classes = resolveClasses(scored.source, listing?.names ?? names, clips, setup.classes)
  const labels = clipLabels(scored.source, clips, classes)

  const perTemplate: Float32Array[][] = []
  for (const template of templates) {
    const texts = classes.map((name) => classText(template, name))
    const embeddings = (await embedder.embed(
      'text',
      texts.map((t) => [t]),
    )) as Float32Array[]
    embeddings.forEach((e, c) => requireFinite(e, () => `the text tower's text_emb for ${JSON.stringify(texts[c])}`))
    perTemplate.push(embeddings)
  }
  const scores = scoreClips(
    clips.map((c) => c.audio),
    classEmbeddings(perTemplate, setup.cosine),
    setup.cosine,
  )
  const labelled = clips.flatMap((c, i) =>
    labels[i] === null ? [] : [{label: labels[i]!, fold: c.fold, scores: scores[i]}],
  )
  // Accuracy needs labels; a table of one's own unlabelled sounds still gets every clip's prediction.
  const metrics = labelled.length > 0 ? classificationMetrics(labelled, classes.length) : null
  const predictions = clips.map((c, i) => ({
    id: c.id,
    path: c.path ?? null,
    fold: c.fold,
    label: labels[i],
    predicted: argmax(scores[i]),
    scores: scores[i],
  }))

  const embedStage = stageOf(scored.schema, 'audio_emb')
  const report: ZeroShotReport = {
    task: 'zeroshot',
    vipant: setup.version,
    protocol: {
      dataset: setup.dataset,
      source: scored.source,
      prompts: templates,
      scoring: setup.cosine ? 'cosine' : 'dot',
      audio_normalized: (embedStage?.params.normalized as boolean | undefined) ?? false,
      max_len: (stageOf(scored.schema, 'mel')?.params.max_len as number | undefined) ?? null,
      pooled: true,
    },
    model: await evaluatedModels(scored, embedder.sources),
    backend: setup.backend,
    clips: {
      listed: listing?.listed ?? null,
      evaluated: clips.length,
      missing: listing?.missing ?? null,
      failed,
      unlabelled: clips.length - labelled.length,
    },
    folds: {
      present: metrics?.folds.map((f) => f.fold) ?? [],
      listed: listing ? [...listing.folds].sort((a, b) => a - b) : null,
    },
    accuracy: metrics?.accuracy ?? null,
    top5: metrics?.top5 ?? null,
    per_fold: metrics?.folds ?? [],
    per_class: metrics?.classes.map((c) => ({...c, name: classes[c.label]})) ?? [],
    confusion: {classes, matrix: metrics?.confusion ?? null},
    unlabelled: predictions
      .filter((p) => p.label === null)
      .map((p) => ({id: p.id, predicted: classes[p.predicted], score: p.scores[p.predicted]})),
  }
  return {report, predictions, classes}
}
