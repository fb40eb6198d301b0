import {test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, cpSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {tableFromIPC} from '@uwdata/flechette'
import {kaldiFbank} from '../src/lib/audio/kaldi-fbank.js'
import {decodeAudio} from '../src/lib/audio/decode.js'
import {logMel} from '../src/lib/audio/log-mel.js'
import {DEFAULT_MEL} from '../src/lib/audio/mel-config.js'
import {vipant} from './cli.js'
import {repoRoot, sharedData, skipWithoutShared} from './helpers.js'

/** A deterministic waveform with a DC offset, a tone and a little noise. */
function signal(n: number, seed = 1): Float32Array {
  let s = seed
  return Float32Array.from({length: n}, (_, i) => {
    s = (s * 1103515245 + 12345) % 2147483648
    return 0.05 + 0.3 * Math.sin(i * 0.07) + 0.01 * (s / 2147483648 - 0.5)
  })
}

test('each frame of a pair is the frame computed alone (odd frame counts, both lanes)', () => {
  // 16 kHz: 400-sample windows every 160. 7 frames: three pairs and a last frame alone.
  const x = signal(400 + 6 * 160)
  const all = kaldiFbank(x, 16000)
  assert.equal(all.frames, 7)
  for (let m = 0; m < 7; m++) {
    const alone = kaldiFbank(x.subarray(m * 160, m * 160 + 400), 16000)
    assert.equal(alone.frames, 1)
    assert.deepEqual(alone.data, all.data.subarray(m * 128, (m + 1) * 128), `frame ${m}`)
  }
})

test('plans of one FFT size keep their own zero padding (22.05 kHz after 32 kHz, both padded to 1024)', () => {
  const x = signal(22050, 7)
  const before = kaldiFbank(x, 22050).data
  kaldiFbank(signal(32000, 3), 32000) // an 800-sample window fills more of the 1024 than 22.05 kHz's 551
  assert.deepEqual(kaldiFbank(x, 22050).data, before)
})

test('`out` bounds the frames computed, and `offset` is the float32 subtraction done first', () => {
  const x = signal(16000, 5)
  const whole = kaldiFbank(x, 16000)
  const out = new Float32Array(10 * 128 + 5)
  const head = kaldiFbank(x, 16000, {}, out)
  assert.equal(head.frames, 10)
  assert.equal(head.data.buffer, out.buffer)
  assert.deepEqual(head.data, whole.data.subarray(0, 10 * 128))
  const mean = Math.fround(0.05)
  assert.deepEqual(
    kaldiFbank(x, 16000, {}, undefined, mean).data,
    kaldiFbank(
      x.map((v) => v - mean),
      16000,
    ).data,
  )
})

test('the committed module is what build.sh makes of fbank.c', (t) => {
  const hasClang = spawnSync('sh', ['-c', 'command -v clang-14 || command -v clang']).status === 0
  if (!hasClang) return t.skip('no clang here (apt-get install clang-14 lld-14)')
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-wasm-'))
  const source = path.join(repoRoot, 'src', 'lib', 'audio', 'wasm')
  for (const f of ['build.sh', 'fbank.c']) cpSync(path.join(source, f), path.join(dir, f))
  execFileSync('sh', [path.join(dir, 'build.sh')])
  assert.equal(
    readFileSync(path.join(dir, 'fbank-module.ts'), 'utf8'),
    readFileSync(path.join(source, 'fbank-module.ts'), 'utf8'),
  )
})

test(
  'mel with 2 workers and batches of 3 gives each row the log-mel computed in-process (slots reused)',
  {skip: skipWithoutShared, timeout: 120_000},
  async () => {
    const fold = sharedData('us8k', 'audio', 'fold10')
    const files = readdirSync(fold)
      .filter((f) => f.endsWith('.wav'))
      .sort()
      .slice(0, 40)
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-slots-'))
    const out = path.join(dir, 'm.arrow')
    const r = vipant(['mel', ...files.map((f) => path.join(fold, f)), '--workers', '2', '--batch-size', '3', '-o', out])
    assert.equal(r.status, 0, r.stderr.toString())
    const table = tableFromIPC(readFileSync(out), {useProxy: false})
    const paths = table.getChild('path').toArray() as string[]
    const mels = table.getChild('mel').toArray() as Float32Array[]
    assert.equal(mels.length, 40)
    for (let i = 0; i < 40; i++) {
      const audio = await decodeAudio(paths[i])
      const key = table.getChild('id').get(i) as string
      const expected = logMel(audio.channels, audio.sampleRate, DEFAULT_MEL, key).mel
      assert.deepEqual(mels[i], expected, paths[i])
    }
  },
)
