import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, describe, test} from 'node:test'
import {loadModelFile} from '../src/lib/checkpoint/load.js'
import {vipant} from './cli.js'
import {fixture} from './helpers.js'
import {assertSameState} from './state-dict-assert.js'

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vipant-convert-'))
after(() => rmSync(tmp, {recursive: true, force: true}))

const VISION = {width: 64, layers: 2, heads: 1, patchSize: 8, grid: 2, imageResolution: 16, embedDim: 32}
const TEXT = {width: 64, layers: 1, heads: 1, contextLength: 16, vocabSize: 64, embedDim: 32}
const CLIP_PARAMETERS = 172_225

describe('vipant convert', () => {
  for (const [file, format, dtypes, out] of [
    ['clip-jit.pt', 'openai-clip-torchscript', {float16: 50}, 'jit'],
    ['clip-state-dict.pt', 'clip-state-dict', {float16: 50}, 'sd.safetensors'],
    ['clip-hf.safetensors', 'hf-clip', {float16: 50}, 'hf'],
  ] as const) {
    test(`${file} -> ${out}`, async () => {
      const output = path.join(tmp, out)
      const run = vipant(['convert', fixture('checkpoint', file), output, '--json'])
      assert.equal(run.status, 0, run.stderr.toString())
      const report = JSON.parse(run.stdout.toString())
      assert.equal(report.format, format)
      assert.equal(report.tensors, 50)
      assert.equal(report.parameters, CLIP_PARAMETERS)
      assert.deepEqual(report.dtypes, dtypes)
      assert.deepEqual(report.architecture, {vision: VISION, text: TEXT})
      assert.equal(report.audio, undefined)
      assert.equal(report.logitScale, 4.60546875)
      const [input, back] = await Promise.all([loadModelFile(fixture('checkpoint', file)), loadModelFile(output)])
      assert.equal(back.format, 'vipant')
      assertSameState(back.clip!, input.clip!)
      assert.deepEqual([...new Set([...back.clip!.values()].map((t) => t.dtype))], ['float32'])
    })
  }

  for (const [file, layout, inChannels] of [
    ['vipant-at.pth', '(image, audio, text, loss)', 3],
    ['vipant-va.pth', '(audio, loss)', 1],
  ] as const) {
    test(`${file}: audio head, config and grid`, async () => {
      const output = path.join(tmp, `${file}.safetensors`)
      const run = vipant(['convert', fixture('checkpoint', file), output, '--json'])
      assert.equal(run.status, 0, run.stderr.toString())
      const report = JSON.parse(run.stdout.toString())
      assert.equal(report.format, 'vipant-pth')
      assert.equal(report.tensors, 20)
      assert.deepEqual(report.architecture, {
        audio: {width: 64, layers: 1, heads: 1, patchSize: 8, inChannels, positions: 25, embedDim: 32},
      })
      assert.deepEqual(report.audio, {
        config: {resolution: [64, 128], patchSize: 8, stride: [16, 24]},
        grid: {rows: 4, cols: 6},
      })
      assert.equal(report.info.layout, layout)
      assert.equal(report.info.cfg.model.audio.max_len, 64)
      const [input, back] = await Promise.all([loadModelFile(fixture('checkpoint', file)), loadModelFile(output)])
      assertSameState(back.audio!.weights, input.audio!.weights)
      assert.deepEqual(back.audio!.config, input.audio!.config)
      assert.equal(back.logitScale, input.logitScale)
    })
  }

  test('prints a readable report, and converts a vipant checkpoint again', () => {
    const once = path.join(tmp, 'once')
    assert.equal(vipant(['convert', fixture('checkpoint', 'vipant-at.pth'), once]).status, 0)
    const run = vipant(['convert', once, path.join(tmp, 'twice.safetensors')])
    assert.equal(run.status, 0, run.stderr.toString())
    const text = run.stdout.toString()
    assert.match(text, /^format {6}vipant \(vipant checkpoint\)$/m)
    assert.match(text, /^audio grid {2}64 frames x 128 bins, stride 16x24: 4x6 patches \+ class token = 25 positions$/m)
    assert.match(text, /^wrote .*twice\.safetensors$/m)
  })

  test('refuses a malicious pickle with one line naming the global', () => {
    const run = vipant(['convert', fixture('checkpoint', 'malicious.pt'), path.join(tmp, 'bad')])
    assert.equal(run.status, 2)
    assert.match(
      run.stderr.toString(),
      /^vipant convert: .*malicious\.pt.*refusing to load: the pickle names posix\.system.*\n$/,
    )
  })

  test('does not overwrite without --force', () => {
    const output = path.join(tmp, 'exists.safetensors')
    assert.equal(vipant(['convert', fixture('checkpoint', 'clip-hf.safetensors'), output]).status, 0)
    const run = vipant(['convert', fixture('checkpoint', 'clip-hf.safetensors'), output])
    assert.equal(run.status, 2)
    assert.match(run.stderr.toString(), /exists \(use --force to overwrite\)/)
    assert.equal(vipant(['convert', fixture('checkpoint', 'clip-hf.safetensors'), output, '--force']).status, 0)
  })
})
