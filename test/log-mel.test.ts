import {test} from 'node:test'
import assert from 'node:assert/strict'
import {randomCrop} from '../src/lib/audio/crop.js'
import {logMel} from '../src/lib/audio/log-mel.js'
import {DEFAULT_MEL} from '../src/lib/audio/mel-config.js'
import {mulberry32} from '../src/lib/util/rng.js'

/** A signal that is loud only on [from, to). */
function burst(n: number, from: number, to: number): Float32Array {
  return Float32Array.from({length: n}, (_, i) => (i >= from && i < to ? Math.sin(i * 0.3) : 0))
}

test('centre crop: Python round-half-even start, the window unchanged when loud enough', () => {
  const x = Float32Array.from({length: 15}, (_, i) => Math.sin(i))
  // N - L = 5: round(2.5) = 2 in Python, not 3.
  const [c] = randomCrop([x], 10, null)
  assert.equal(c.byteOffset / 4, 2)
  assert.equal(randomCrop([x], 15, null)[0], x)
})

test('crop falls back to the head when the window is quiet, and to the tail when the head is quieter still', () => {
  // Loud only at the start: the centre window is silent, the head is loud.
  const head = randomCrop([burst(1000, 0, 300)], 400, null)[0]
  assert.equal(head.byteOffset, 0)
  // Loud at the end: the centre catches a little of it, the head none, so the tail.
  const tail = randomCrop([burst(1000, 690, 1000)], 400, null)[0]
  assert.equal(tail.byteOffset / 4, 600)
})

test('random crop draws the start from the seeded generator, the same for every channel', () => {
  const x = Float32Array.from({length: 5000}, (_, i) => Math.sin(i * 0.01) + 0.1)
  const a = randomCrop([x, x], 1000, mulberry32(7))
  const b = randomCrop([x, x], 1000, mulberry32(7))
  assert.equal(a[0].byteOffset, b[0].byteOffset)
  assert.equal(a[0].byteOffset, a[1].byteOffset)
})

test('log-mel: truncated to max_len, padded with 0 before normalising (+0.8577 after)', () => {
  const sr = 16000
  const wave = Float32Array.from({length: sr * 2}, (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / sr))
  const {mel, frames} = logMel([wave], sr, {...DEFAULT_MEL, maxLen: 300}, 'k')
  assert.equal(frames, 198) // 1 + (32000 - 400) / 160
  assert.equal(mel.length, 300 * 128)
  const pad = (0 - DEFAULT_MEL.norms![0]) / DEFAULT_MEL.norms![1]
  assert.ok(Math.abs(pad - 0.8577305) < 1e-6)
  for (let i = frames * 128; i < mel.length; i++) assert.equal(mel[i], Math.fround(pad))
  // Only the frames from audio are normalised one by one: each is exactly (raw - mean) / std rounded to float32.
  const [mean, std] = DEFAULT_MEL.norms!
  const unnormalised = logMel([wave], sr, {...DEFAULT_MEL, maxLen: 300, norms: null}, 'k').mel
  for (let i = 0; i < frames * 128; i++) assert.equal(mel[i], Math.fround((unnormalised[i] - mean) / std), `value ${i}`)
  for (let i = frames * 128; i < mel.length; i++) assert.equal(unnormalised[i], 0)
  const raw = logMel([wave], sr, {...DEFAULT_MEL, maxLen: 100, norms: null}, 'k')
  assert.equal(raw.frames, 100)
  assert.ok(
    Math.abs(raw.mel[5 * 128 + 10] * 1 - (mel[5 * 128 + 10] * DEFAULT_MEL.norms![1] + DEFAULT_MEL.norms![0])) < 1e-4,
  )
})
