import type {ZeroShotReport} from '../eval/report.js'
import type {Prediction} from '../eval/zeroshot.js'
import type {ClipMedia} from './clip-media.js'
import {esc, facts, pct, shown, staticTable, type Page} from './page.js'
import {clipsBlock, descending, modelBlock} from './report-parts.js'

/** One clip as the page's script sees it: top holds the 5 best [class, score] pairs. */
interface PageClip {
  id: string
  fold: number | null
  label: number | null
  predicted: number
  /** Misclassified: the predicted class's score minus the true class's (largest first); correct: the lead over the runner-up. */
  margin: number | null
  top: [number, number][]
  src: string | null
}

/** The zero-shot page: protocol, accuracies, per-class accuracy worst first, and a confusion matrix whose cells list their clips. */
export async function zeroShotPage(
  report: ZeroShotReport,
  predictions: readonly Prediction[],
  media: ClipMedia,
): Promise<Page> {
  const clips: PageClip[] = []
  for (const p of predictions) {
    const order = descending(p.scores)
    const margin =
      p.label === null
        ? null
        : p.label === p.predicted
          ? p.scores[order[0]] - (p.scores[order[1]] ?? p.scores[order[0]])
          : p.scores[p.predicted] - p.scores[p.label]
    clips.push({
      id: p.id,
      fold: p.fold,
      label: p.label,
      predicted: p.predicted,
      margin,
      top: order.slice(0, 5).map((j) => [j, p.scores[j]]),
      src: await media.src(p.path),
    })
  }
  const {protocol: pr} = report
  const perClass = [...report.per_class].sort(
    (a, b) => (a.accuracy ?? Infinity) - (b.accuracy ?? Infinity) || a.label - b.label,
  )
  const body = [
    '<h2>Protocol and model</h2>',
    facts([
      ['dataset', pr.dataset],
      ['source', pr.source],
      ['prompts', pr.prompts.map((t) => JSON.stringify(t)).join(', ')],
      ['scoring', pr.scoring],
      ['audio normalised', String(pr.audio_normalized)],
      ['max_len', pr.max_len],
      ['pooled', String(pr.pooled)],
      ['backend', report.backend],
      ['vipant', report.vipant],
    ]),
    modelBlock(report.model),
    clipsBlock(report.clips),
    '<h2>Accuracy</h2>',
    report.accuracy === null
      ? '<p>No clip has a label, so there is no accuracy: see the predictions below.</p>'
      : `<p class="headline">accuracy <strong id="accuracy">${shown(report.accuracy, pct)}</strong>, top-5 <strong id="top5">${shown(report.top5, pct)}</strong>, pooled over ${report.clips.evaluated - report.clips.unlabelled} labelled clips</p>`,
    report.per_fold.length === 0
      ? ''
      : `<div id="per-fold">${staticTable(
          'Per fold',
          ['fold', 'clips', 'accuracy'],
          report.per_fold.map((f) => [String(f.fold), String(f.clips), shown(f.accuracy, pct)]),
          [true, true, true],
        )}</div>`,
    perClass.length === 0
      ? ''
      : `<div id="per-class">${staticTable(
          'Per class, worst first',
          ['label', 'class', 'clips', 'accuracy'],
          perClass.map((c) => [String(c.label), esc(c.name), String(c.clips), shown(c.accuracy, pct)]),
          [true, false, true, true],
        )}</div>`,
    report.confusion.matrix === null
      ? ''
      : '<h2>Confusion matrix</h2><p class="hint">Rows: true class; columns: predicted (hover or focus a header for its name). Darker: a larger share of the row. Choose a cell to list its clips.</p><div class="confusion-wrap" id="confusion"></div><section id="cell" aria-live="polite"></section>',
    report.unlabelled.length === 0
      ? ''
      : `<h2>Clips without a label (${report.unlabelled.length})</h2><div id="unlabelled"></div>`,
  ].join('\n')
  return {
    title: `vipant zeroshot: ${pr.dataset}`,
    body,
    data: {classes: report.confusion.classes, matrix: report.confusion.matrix, clips},
    script: SCRIPT,
  }
}

const SCRIPT = String.raw`
const {classes, matrix, clips} = DATA;
function clipItem(c) {
  const verdict = c.label === null ? null : c.label === c.predicted
    ? h('span', {class: 'ok'}, 'correct')
    : h('span', {class: 'bad'}, 'wrong');
  return h('li', {'data-id': c.id},
    h('div', {class: 'head'},
      h('span', {class: 'id'}, c.id),
      c.fold === null ? null : h('span', {}, 'fold ' + c.fold),
      c.label === null ? null : h('span', {}, 'true: ', h('b', {class: 'true'}, classes[c.label])),
      h('span', {}, 'predicted: ', h('b', {class: 'predicted'}, classes[c.predicted])),
      verdict,
      c.margin === null ? null : h('span', {class: 'margin'}, 'margin ', num(c.margin, score(c.margin)))),
    player(c.src, c.id),
    h('ol', {class: 'top', 'aria-label': 'top 5 classes'}, c.top.map(([j, s]) =>
      h('li', {class: j === c.label ? 'correct' : null, 'data-class': j}, classes[j] + ' ', num(s, score(s))))));
}
if (matrix) {
  const host = document.getElementById('cell');
  const head = h('tr', {}, h('th', {scope: 'col'}, 'true \u2193 / predicted \u2192'),
    classes.map((name, j) => h('th', {scope: 'col', title: name, 'aria-label': name}, String(j))));
  let pressed = null;
  const rows = matrix.map((row, i) => {
    const total = row.reduce((a, b) => a + b, 0);
    return h('tr', {}, h('th', {scope: 'row'}, i + ' ' + classes[i]), row.map((count, j) => {
      if (count === 0) return h('td', {class: i === j ? 'diag' : null}, '');
      // Lightness from 100% (none of the row) down to 30% (all of it); the text turns white below 46%, where
      // either text colour has at least WCAG's 4.5:1 against the cell.
      const lightness = Math.round(1000 - 700 * (count / total)) / 10;
      const button = h('button', {
        type: 'button', 'data-true': i, 'data-predicted': j, 'aria-pressed': 'false',
        'aria-label': count + ' clips of ' + classes[i] + ' predicted as ' + classes[j],
        style: 'background:hsl(0,0%,' + lightness + '%);color:' + (lightness < 46 ? '#fff' : '#000'),
        onclick: () => { if (pressed) pressed.setAttribute('aria-pressed', 'false'); pressed = button; button.setAttribute('aria-pressed', 'true'); showCell(i, j); },
      }, String(count));
      return h('td', {class: i === j ? 'diag' : null}, button);
    }));
  });
  document.getElementById('confusion').append(h('table', {class: 'confusion'}, h('thead', {}, head), h('tbody', {}, rows)));
  function showCell(i, j) {
    const members = clips.filter((c) => c.label === i && c.predicted === j).sort((a, b) => b.margin - a.margin);
    const list = h('div', {});
    host.replaceChildren(h('h3', {}, 'true ' + classes[i] + ', predicted ' + classes[j] + ': ' + members.length + ' clip' + (members.length === 1 ? '' : 's')), list);
    pager(list, members, clipItem, 'clips of this cell');
  }
}
const unlabelled = document.getElementById('unlabelled');
if (unlabelled) pager(unlabelled, clips.filter((c) => c.label === null), clipItem, 'clips without a label');
`
