import {test} from 'node:test'
import assert from 'node:assert/strict'
import {checkFiveCaptions, retrievalMetrics, similarity} from '../src/lib/eval/retrieval.js'
import {UserError} from '../src/lib/util/errors.js'

/** N x 5N similarities: `own` for a clip's own captions, `other` elsewhere. */
const sims = (n: number, own: number, other: number) =>
  Array.from({length: n}, (_, i) =>
    Float64Array.from({length: 5 * n}, (_, q) => (Math.floor(q / 5) === i ? own : other)),
  )

test('retrieval: a perfect ranking', () => {
  const {audioToText, textToAudio} = retrievalMetrics(sims(2, 1, 0))
  assert.deepEqual(audioToText, {
    queries: 2,
    r1: 100,
    r5: 100,
    r10: 100,
    r50: 100,
    median_rank: 1,
    mean_rank: 1,
    map10: 1,
  })
  assert.deepEqual(textToAudio, {
    queries: 10,
    r1: 100,
    r5: 100,
    r10: 100,
    r50: 100,
    median_rank: 1,
    mean_rank: 1,
    map10: 1,
  })
})

test('retrieval: a reversed ranking', () => {
  const {audioToText, textToAudio} = retrievalMetrics(sims(2, -1, 0))
  // Each clip's 5 captions sit at positions 5..9, behind the other clip's.
  assert.deepEqual(audioToText, {
    queries: 2,
    r1: 0,
    r5: 0,
    r10: 100,
    r50: 100,
    median_rank: 6,
    mean_rank: 6,
    map10: (1 / 6 + 2 / 7 + 3 / 8 + 4 / 9 + 5 / 10) / 5,
  })
  assert.deepEqual(textToAudio, {
    queries: 10,
    r1: 0,
    r5: 100,
    r10: 100,
    r50: 100,
    median_rank: 2,
    mean_rank: 2,
    map10: 0.5,
  })
})

test('retrieval: all ties (duplicate captions) rank the lower index first; an even count takes the lower middle rank', () => {
  const {audioToText, textToAudio} = retrievalMetrics(sims(2, 0, 0))
  assert.deepEqual(audioToText, {
    queries: 2,
    r1: 50,
    r5: 50,
    r10: 100,
    r50: 100,
    median_rank: 1,
    mean_rank: 3.5,
    map10: (1 + (1 / 6 + 2 / 7 + 3 / 8 + 4 / 9 + 5 / 10) / 5) / 2,
  })
  assert.deepEqual(textToAudio, {
    queries: 10,
    r1: 50,
    r5: 100,
    r10: 100,
    r50: 100,
    median_rank: 1,
    mean_rank: 1.5,
    map10: 0.75,
  })
})

test('retrieval: one clip; similarities are cosines', () => {
  const sim = similarity(
    [Float32Array.of(3, 4)],
    [1, 2, 3, 4, 5].map((k) => Float32Array.of(k, 0)),
  )
  assert.deepEqual([...sim[0]], [0.6, 0.6, 0.6, 0.6, 0.6])
  const {audioToText, textToAudio} = retrievalMetrics(sim)
  assert.equal(audioToText.r1, 100)
  assert.equal(textToAudio.r1, 100)
})

test('retrieval refuses clips without exactly 5 captions, naming them', () => {
  assert.doesNotThrow(() => checkFiveCaptions([{id: 'a', captions: 5}], 'clotho'))
  assert.throws(
    () =>
      checkFiveCaptions(
        [
          {id: 'a', captions: 5},
          {id: 'b', captions: 4},
        ],
        'clotho',
      ),
    (e: Error) =>
      e instanceof UserError &&
      e.message === 'clotho: retrieval needs exactly 5 captions per clip; 1 clip differs: b (4)',
  )
})
