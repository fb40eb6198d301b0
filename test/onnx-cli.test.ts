import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {test} from 'node:test'
import {tableFromIPC} from '@uwdata/flechette'
import {encodeWav16} from '../src/lib/audio/wav.js'
import {loadRuntime} from '../src/lib/onnx/runtime.js'
import {vipant} from './cli.js'
import {maxAbsDiff} from './helpers.js'
import {TINY, writeTinyVipant} from './tiny-models.js'

const skip = (await loadRuntime()) ? false : 'onnxruntime-node is not installed'
const noGpu = !existsSync('/dev/nvidia0') && !existsSync('/dev/dri')
const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-onnx-cli-'))
const env = {VIPANT_HOME: path.join(dir, 'home')}
const tinyModel = writeTinyVipant(dir)

/** Two synthetic clips (a chirp over noise, a two-tone beat) of 2.5 s and 1.2 s: the second is padded to max_len. */
function writeClips(): string[] {
  const rate = 16000
  const clips = [
    Float32Array.from(
      {length: 2.5 * rate},
      (_, i) => 0.3 * Math.sin(2 * Math.PI * (200 + i / 40) * (i / rate)) + 0.05 * Math.sin(i * 12.9898),
    ),
    Float32Array.from(
      {length: 1.2 * rate},
      (_, i) => 0.2 * Math.sin(2 * Math.PI * 440 * (i / rate)) + 0.2 * Math.sin(2 * Math.PI * 660 * (i / rate)),
    ),
  ]
  return clips.map((samples, i) => {
    const file = path.join(dir, `clip${i}.wav`)
    writeFileSync(file, encodeWav16({sampleRate: rate, channels: [samples]}))
    return file
  })
}

const column = (file: string, name: string) =>
  tableFromIPC(readFileSync(file), {useProxy: false}).getChild(name).toArray() as Float32Array[]

test(
  'embed --engine onnx and --engine tfjs give the same audio_emb and text_emb columns',
  {skip, timeout: 120_000},
  async () => {
    const model = await tinyModel
    const mel = path.join(dir, 'mel.arrows')
    const m = vipant(['mel', ...writeClips(), '--max-len', String(TINY.audioMaxLen), '-o', mel])
    assert.equal(m.status, 0, m.stderr.toString())
    const out: Record<string, {audio: Float32Array[]; text: Float32Array[]}> = {}
    for (const engine of ['onnx', 'tfjs']) {
      const audio = path.join(dir, `audio-${engine}.arrow`)
      const text = path.join(dir, `text-${engine}.arrow`)
      const a = vipant(['embed', mel, '--model', model, '--raw', '--engine', engine, '-o', audio], {env})
      assert.equal(a.status, 0, a.stderr.toString())
      const line =
        engine === 'onnx'
          ? /^engine onnx: onnxruntime-node [\d.]+, cpu, \d+ threads$/m
          : /^engine tfjs: wasm \(.*\), \d+ worker threads$/m
      assert.match(a.stderr.toString(), line)
      const t = vipant(
        [
          'embed',
          '--model',
          model,
          '--clip',
          model,
          '--text',
          'a dog barks',
          '--text',
          'rain on a tin roof',
          '--engine',
          engine,
          '-o',
          text,
        ],
        {env},
      )
      assert.equal(t.status, 0, t.stderr.toString())
      out[engine] = {audio: column(audio, 'audio_emb'), text: column(text, 'text_emb')}
    }
    assert.equal(out.onnx.audio.length, 2)
    assert.equal(out.onnx.audio[0].length, TINY.embed)
    for (const tower of ['audio', 'text'] as const) {
      const flat = (engine: string) => Float32Array.from(out[engine][tower].flatMap((v) => [...v]))
      assert.ok(maxAbsDiff(flat('onnx'), flat('tfjs')) <= 1e-4, `${tower}: ${maxAbsDiff(flat('onnx'), flat('tfjs'))}`)
    }
    // The second onnx run found the graphs in $VIPANT_HOME/onnx.
    assert.ok(existsSync(path.join(env.VIPANT_HOME, 'onnx')))
  },
)

test('engines and backends that cannot run here: one line each, exit 2', {skip}, async () => {
  const model = await tinyModel
  const embed = (...extra: string[]) =>
    vipant(['embed', '--model', model, '--clip', model, '--text', 'x', ...extra, '-o', path.join(dir, 'x.arrow')], {
      env,
    })
  const wasm = embed('--engine', 'onnx', '--backend', 'wasm')
  assert.equal(wasm.status, 2)
  assert.equal(wasm.stderr.toString(), 'vipant embed: --engine onnx runs on cpu or webgpu, not --backend wasm\n')
  if (!noGpu) return
  const onnxGpu = embed('--backend', 'webgpu')
  assert.equal(onnxGpu.status, 2)
  assert.equal(
    onnxGpu.stderr.toString(),
    'vipant embed: onnxruntime webgpu needs a GPU adapter, and this machine has none (no /dev/dri/renderD* or /dev/nvidia* device)\n',
  )
  const tfjsGpu = embed('--engine', 'tfjs', '--backend', 'webgpu')
  assert.equal(tfjsGpu.status, 2)
  assert.equal(
    tfjsGpu.stderr.toString(),
    'vipant embed: backend webgpu is not available here: no GPU adapter (no /dev/dri/renderD* or /dev/nvidia* device); available: wasm, cpu\n',
  )
})
