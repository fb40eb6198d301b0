import type {ZeroShotReport} from '../eval/report.js'
import type {CaptionSearchResult, ClipSearch, RetrievalReport} from '../eval/retrieval-report.js'
import type {RankRow, RetrievalClip} from '../eval/retrieve.js'
import type {Prediction} from '../eval/zeroshot.js'
import type {MetricsLog, RunSummary} from '../train/metrics-log.js'
import {ClipMedia} from './clip-media.js'
import {writePage} from './page.js'
import {retrievalPage} from './retrieval-page.js'
import {captionSearchPage, clipSearchPage} from './search-page.js'
import {trainingPage} from './training-page.js'
import {zeroShotPage} from './zeroshot-page.js'

export type HtmlContent =
  | {kind: 'zeroshot'; report: ZeroShotReport; predictions: readonly Prediction[]}
  | {
      kind: 'retrieval'
      report: RetrievalReport
      ranks: readonly RankRow[]
      clips: readonly RetrievalClip[]
      sim: readonly Float64Array[]
    }
  | {kind: 'clip-search'; search: ClipSearch; source: string}
  | {kind: 'caption-search'; result: CaptionSearchResult; source: string}
  | {kind: 'training'; run: string; log: MetricsLog; summary: RunSummary; curves: string}

/** Writes FILE (and with `copy`, its clips into FILE_files/) when FILE is given. */
export async function writeHtml(file: string | undefined, copy: boolean, content: HtmlContent): Promise<void> {
  if (file === undefined) return
  const media = new ClipMedia(file, copy)
  const page =
    content.kind === 'zeroshot'
      ? await zeroShotPage(content.report, content.predictions, media)
      : content.kind === 'retrieval'
        ? await retrievalPage(content.report, content.ranks, content.clips, content.sim, media)
        : content.kind === 'clip-search'
          ? await clipSearchPage(content.search, content.source, media)
          : content.kind === 'caption-search'
            ? await captionSearchPage(content.result, content.source, media)
            : await trainingPage(content.run, content.log, content.summary, content.curves)
  await writePage(file, page)
}
