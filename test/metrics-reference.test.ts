import {test} from 'node:test'
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {argmax, classificationMetrics, scoreClips, type ClassificationMetrics} from '../src/lib/eval/classification.js'
import {retrievalMetrics, similarity, type DirectionMetrics} from '../src/lib/eval/retrieval.js'
import {fixture} from './helpers.js'

/** Inputs and expected values from test/reference/metrics.py, an independent numpy implementation of docs/method.md §8. */
const load = (name: string) => JSON.parse(readFileSync(fixture('metrics', `${name}.json`), 'utf8'))
const f32 = (rows: number[][]) => rows.map((r) => Float32Array.from(r))

/** Every number in `actual` within 1e-9 of `expected`, everything else equal; returns the largest difference. */
function closeTo(actual: unknown, expected: unknown, at = '$'): number {
  if (typeof expected === 'number' && typeof actual === 'number') {
    const d = Math.abs(actual - expected)
    assert.ok(d <= 1e-9, `${at}: ${actual} != ${expected}`)
    return d
  }
  if (expected !== null && typeof expected === 'object') {
    assert.ok(actual !== null && typeof actual === 'object', `${at}: ${JSON.stringify(actual)}`)
    assert.deepEqual(Object.keys(actual as object).sort(), Object.keys(expected).sort(), at)
    return Math.max(
      0,
      ...Object.entries(expected).map(([k, v]) => closeTo((actual as Record<string, unknown>)[k], v, `${at}.${k}`)),
    )
  }
  assert.equal(actual, expected, at)
  return 0
}

test('classification metrics equal the numpy reference (ties, duplicate classes, a zero clip)', () => {
  const data = load('classification')
  const scores = scoreClips(
    f32(data.audio),
    data.text.map((r: number[]) => Float64Array.from(Float32Array.from(r))),
    false,
  )
  const metrics: ClassificationMetrics = classificationMetrics(
    scores.map((s, i) => ({label: data.labels[i], fold: data.folds[i], scores: s})),
    data.text.length,
  )
  const {predicted, ...expected} = data.expected
  assert.deepEqual(
    scores.map((s) => argmax(s)),
    predicted,
  )
  closeTo(metrics, expected)
})

test('retrieval metrics equal the numpy reference in both directions (duplicate captions and clips)', () => {
  const data = load('retrieval')
  const metrics: {audioToText: DirectionMetrics; textToAudio: DirectionMetrics} = retrievalMetrics(
    similarity(f32(data.audio), f32(data.text)),
  )
  closeTo(metrics.audioToText, data.expected.audio_to_text, 'audio_to_text')
  closeTo(metrics.textToAudio, data.expected.text_to_audio, 'text_to_audio')
})

test('retrieval metrics equal what the original LossHead.retrieval_eval printed (an even count: the lower middle rank)', () => {
  const data = load('retrieval_original')
  const metrics: {audioToText: DirectionMetrics; textToAudio: DirectionMetrics} = retrievalMetrics(
    similarity(f32(data.audio), f32(data.text)),
  )
  for (const [ours, printed] of [
    [metrics.audioToText, data.printed.audio_to_text],
    [metrics.textToAudio, data.printed.text_to_audio],
  ] as const) {
    // The original prints two decimals; every figure must round to what it printed.
    for (const key of ['r1', 'r5', 'r10', 'r50', 'median_rank', 'mean_rank'] as const) {
      assert.equal(
        ours[key].toFixed(2),
        printed[key].toFixed(2),
        `${key}: ${ours[key]} vs the original's ${printed[key]}`,
      )
    }
  }
  assert.equal(metrics.audioToText.queries % 2, 0, 'an even number of queries, where the median rule matters')
})
