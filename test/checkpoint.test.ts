import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, describe, test} from 'node:test'
import {expectedShapes, inferArchitecture} from '../src/lib/checkpoint/architecture.js'
import {audioGrid} from '../src/lib/checkpoint/audio-config.js'
import {hfToOpenAI} from '../src/lib/checkpoint/keymap.js'
import {loadModelFile} from '../src/lib/checkpoint/load.js'
import {PyObject, unpickle} from '../src/lib/checkpoint/pickle.js'
import {plainConfig} from '../src/lib/checkpoint/pickled-config.js'
import {encodeSafetensors, readSafetensors} from '../src/lib/checkpoint/safetensors.js'
import type {StateDict, Tensor} from '../src/lib/checkpoint/tensor.js'
import {loadTorchArchive} from '../src/lib/checkpoint/torch-load.js'
import {writeVipantCheckpoint} from '../src/lib/checkpoint/vipant-format.js'
import {UserError} from '../src/lib/util/errors.js'
import {fixture, maxAbsDiff} from './helpers.js'
import {assertSameState} from './state-dict-assert.js'

const ckpt = (name: string) => fixture('checkpoint', name)
const tmp = mkdtempSync(path.join(os.tmpdir(), 'vipant-checkpoint-'))
after(() => rmSync(tmp, {recursive: true, force: true}))

const tensor = (shape: number[], values?: number[]): Tensor => ({
  shape,
  dtype: 'float32',
  data: Float32Array.from(values ?? new Array(shape.reduce((a, b) => a * b, 1)).fill(0)),
})

describe('CLIP formats load to the same OpenAI-named state dict', async () => {
  const reference = (await readSafetensors(ckpt('tiny-clip.safetensors'))).tensors
  for (const [file, format, dtype] of [
    ['clip-jit.pt', 'openai-clip-torchscript', 'float16'],
    ['clip-state-dict.pt', 'clip-state-dict', 'float16'],
    ['clip-hf.safetensors', 'hf-clip', 'float16'],
    ['tiny-clip.safetensors', 'clip-state-dict', 'float32'],
  ] as const) {
    test(file, async () => {
      const model = await loadModelFile(ckpt(file))
      assert.equal(model.format, format)
      assert.equal(model.audio, undefined)
      assertSameState(model.clip!, reference)
      assert.ok([...model.clip!.values()].every((t) => t.dtype === dtype))
      assert.equal(model.logitScale, reference.get('logit_scale')!.data[0])
    })
  }

  test('the TorchScript archive reports and drops its JIT attributes', async () => {
    const model = await loadModelFile(ckpt('clip-jit.pt'))
    assert.deepEqual(model.info.jitAttributes, {input_resolution: 16, context_length: 16, vocab_size: 64})
    assert.equal(model.info.rootClass, '__torch__.CLIP')
  })
})

describe('VIP-ANT checkpoints', async () => {
  const reference = (await readSafetensors(ckpt('tiny-audio.safetensors'))).tensors
  const config = JSON.parse(readFileSync(ckpt('tiny-audio.json'), 'utf8'))

  test('4-tuple (image, audio, text, loss): audio head, cfg and loss-head logit scale', async () => {
    const model = await loadModelFile(ckpt('vipant-at.pth'))
    assert.equal(model.format, 'vipant-pth')
    assert.equal(model.clip, undefined)
    assertSameState(model.audio!.weights, reference)
    assert.deepEqual(model.audio!.config, {
      resolution: config.resolution,
      patchSize: config.patchSize,
      stride: config.stride,
    })
    assert.equal(model.logitScale, config.logitScale)
    assert.equal(model.info.layout, '(image, audio, text, loss)')
    const cfg = model.info.cfg as {model: {audio: {pre_encoder: {stride: number[]}}}; optimizer: {betas: number[]}}
    assert.deepEqual(cfg.model.audio.pre_encoder.stride, [16, 24])
    assert.deepEqual(cfg.optimizer.betas, [0.9, 0.999])
  })

  test('2-tuple (audio, loss) from an in_channels=1 run', async () => {
    const model = await loadModelFile(ckpt('vipant-va.pth'))
    assert.equal(model.info.layout, '(audio, loss)')
    assert.equal(model.logitScale, config.logitScale)
    assert.equal(model.architecture.audio!.inChannels, 1)
    const conv = reference.get('pre_encoder.conv1.weight')!
    const [w, , p] = conv.shape
    const firstChannel = Float32Array.from(
      {length: w * p * p},
      (_, i) => conv.data[Math.floor(i / (p * p)) * 3 * p * p + (i % (p * p))],
    )
    assert.deepEqual(model.audio!.weights.get('pre_encoder.conv1.weight')!.shape, [w, 1, p, p])
    assert.equal(maxAbsDiff(model.audio!.weights.get('pre_encoder.conv1.weight')!.data, firstChannel), 0)
    for (const [name, t] of reference)
      if (name !== 'pre_encoder.conv1.weight')
        assert.equal(maxAbsDiff(model.audio!.weights.get(name)!.data, t.data), 0, name)
  })
})

describe('torch.save archives', () => {
  const expected = JSON.parse(readFileSync(ckpt('strided.json'), 'utf8')) as Record<
    string,
    {shape: number[]; dtype: string; values: number[]}
  >
  for (const file of ['strided.pt', 'strided-deflated.pt', 'strided-zip64.pt']) {
    test(`${file}: views honour storage offsets and strides, every dtype widens`, async () => {
      const archive = await loadTorchArchive(ckpt(file))
      assert.equal(archive.kind, 'torch-save')
      const object = (archive as {object: Map<string, unknown>}).object
      const tensors = object.get('tensors') as Map<string, Tensor>
      assert.deepEqual([...tensors.keys()], Object.keys(expected))
      for (const [name, e] of Object.entries(expected)) {
        const t = tensors.get(name)!
        assert.deepEqual(t.shape, e.shape, name)
        assert.equal(t.dtype, e.dtype, name)
        assert.deepEqual([...t.data], e.values.map(Math.fround), name)
      }
      assert.deepEqual(
        object.get('meta'),
        new Map<string, unknown>([
          ['epoch', 3],
          ['name', 'strided'],
          ['ratio', 0.25],
          ['flags', [true, null]],
        ]),
      )
    })
  }
})

describe('architecture', () => {
  test('the tiny fixtures, from shapes', async () => {
    const model = await loadModelFile(ckpt('clip-hf.safetensors'))
    assert.deepEqual(model.architecture, {
      vision: {width: 64, layers: 2, heads: 1, patchSize: 8, grid: 2, imageResolution: 16, embedDim: 32},
      text: {width: 64, layers: 1, heads: 1, contextLength: 16, vocabSize: 64, embedDim: 32},
    })
    const audio = await loadModelFile(ckpt('vipant-at.pth'))
    assert.deepEqual(audio.architecture.audio, {
      width: 64,
      layers: 1,
      heads: 1,
      patchSize: 8,
      inChannels: 3,
      positions: 25,
      embedDim: 32,
    })
  })

  test('ViT-B/32 and the released audio head (docs/method.md §9.3, 9.4)', () => {
    const arch = {
      vision: {width: 768, layers: 12, heads: 12, patchSize: 32, grid: 7, imageResolution: 224, embedDim: 512},
      text: {width: 512, layers: 12, heads: 8, contextLength: 77, vocabSize: 49408, embedDim: 512},
      audio: {width: 768, layers: 12, heads: 12, patchSize: 32, inChannels: 3, positions: 306, embedDim: 512},
    }
    const shapes = expectedShapes(arch)
    assert.deepEqual(shapes.get('visual.positional_embedding'), [50, 768])
    assert.deepEqual(shapes.get('visual.transformer.resblocks.11.attn.in_proj_weight'), [2304, 768])
    assert.deepEqual(shapes.get('transformer.resblocks.0.mlp.c_fc.weight'), [2048, 512])
    assert.deepEqual(shapes.get('misc.positional_embedding'), [306, 768])
    assert.deepEqual(shapes.get('post_encoder.proj'), [768, 512])
    assert.equal(shapes.size, 3 * 12 * 12 + 8 + 5 + 8 + 1) // blocks, vision, text, audio, logit_scale
    const state: StateDict = new Map(
      [...shapes].map(([name, shape]) => [name, {shape, dtype: 'float32', data: new Float32Array(0)}]),
    )
    assert.deepEqual(inferArchitecture(state), arch)
    assert.deepEqual(audioGrid({resolution: [1000, 128], patchSize: 32, stride: [16, 24]}), {rows: 61, cols: 5})
    assert.deepEqual(audioGrid({resolution: [1800, 128], patchSize: 32, stride: [16, 24]}), {rows: 111, cols: 5})
  })
})

test('HF q/k/v projections concatenate into in_proj rows q, k, v; projections transpose', () => {
  const hf: StateDict = new Map([
    ['text_model.encoder.layers.0.self_attn.v_proj.weight', tensor([1, 2], [5, 6])],
    ['text_model.encoder.layers.0.self_attn.q_proj.weight', tensor([1, 2], [1, 2])],
    ['text_model.encoder.layers.0.self_attn.k_proj.weight', tensor([1, 2], [3, 4])],
    ['text_model.encoder.layers.0.self_attn.q_proj.bias', tensor([1], [7])],
    ['text_model.encoder.layers.0.self_attn.k_proj.bias', tensor([1], [8])],
    ['text_model.encoder.layers.0.self_attn.v_proj.bias', tensor([1], [9])],
    ['text_model.encoder.layers.0.mlp.fc2.bias', tensor([1], [10])],
    ['visual_projection.weight', tensor([2, 3], [1, 2, 3, 4, 5, 6])],
    ['vision_model.embeddings.position_ids', tensor([1, 4])],
  ])
  const out = hfToOpenAI(hf, 'hf')
  assert.deepEqual(out.get('transformer.resblocks.0.attn.in_proj_weight'), tensor([3, 2], [1, 2, 3, 4, 5, 6]))
  assert.deepEqual(out.get('transformer.resblocks.0.attn.in_proj_bias'), tensor([3], [7, 8, 9]))
  assert.deepEqual(out.get('transformer.resblocks.0.mlp.c_proj.bias'), tensor([1], [10]))
  assert.deepEqual(out.get('visual.proj'), tensor([3, 2], [1, 4, 2, 5, 3, 6]))
  assert.equal(out.size, 4)
  hf.delete('text_model.encoder.layers.0.self_attn.k_proj.bias')
  assert.throws(() => hfToOpenAI(hf, 'hf'), /in_proj_bias lacks one of its q\/k\/v/)
})

describe('the unpickler never runs code', () => {
  const marker = '/tmp/vipant-pickle-pwned'

  test('torch.save of an object reducing to os.system is refused, and nothing ran', async () => {
    rmSync(marker, {force: true})
    await assert.rejects(
      loadModelFile(ckpt('malicious.pt')),
      (e: Error) => e instanceof UserError && /malicious\.pt.*posix\.system/.test(e.message),
    )
    assert.equal(existsSync(marker), false)
  })

  const pickle = (...parts: (string | number[])[]) =>
    Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...Buffer.from(p, 'latin1')] : p)))
  for (const [global, bytes] of [
    ['builtins.eval', pickle([0x80, 2], 'cbuiltins\neval\n', ')R.')],
    ['__builtin__.getattr', pickle([0x80, 2], 'c__builtin__\ngetattr\n.')],
    ['subprocess.Popen', pickle([0x80, 4, 0x8c, 10], 'subprocess', [0x8c, 5], 'Popen', [0x93], '.')],
    ['nt.system', pickle([0x80, 2], 'cnt\nsystem\n.')],
    ['runpy._run_code', pickle([0x80, 2], 'crunpy\n_run_code\n.')],
    ['importlib.import_module', pickle([0x80, 2], 'cimportlib\nimport_module\n.')],
  ] as const) {
    test(`${global} is refused on sight`, () => {
      assert.throws(
        () => unpickle(bytes, {source: 'x.pkl'}),
        (e: Error) =>
          e instanceof UserError && e.message.includes(`x.pkl: refusing to load: the pickle names ${global}`),
      )
    })
  }

  test('other globals become inert placeholders holding their BUILD state', () => {
    const obj = unpickle(
      pickle([0x80, 2], 'comegaconf.dictconfig\nDictConfig\n)', [0x81], '}X', [1, 0, 0, 0], 'aK', [5], 'sb.'),
      {source: 'x'},
    )
    assert.ok(obj instanceof PyObject)
    assert.equal(obj.className, 'omegaconf.dictconfig.DictConfig')
    assert.deepEqual(obj.state, new Map([['a', 5]]))
  })

  test('a self-referencing dict unpickles, and its config view cuts the cycle', () => {
    const dict = unpickle(pickle([0x80, 2], '}q', [0], 'X', [1, 0, 0, 0], 'ah', [0], 's.'), {source: 'x'}) as Map<
      string,
      unknown
    >
    assert.equal(dict.get('a'), dict)
    assert.deepEqual(plainConfig(dict), {a: '<cycle>'})
  })

  test('a truncated pickle is a clear error', () => {
    assert.throws(
      () => unpickle(pickle([0x80, 2], '}X', [9, 0, 0, 0], 'abc'), {source: 'x.pkl'}),
      /x\.pkl: corrupt pickle \(truncated/,
    )
  })
})

describe('bad files are clear user errors', () => {
  const write = (name: string, bytes: Uint8Array) => {
    const file = path.join(tmp, name)
    writeFileSync(file, bytes)
    return file
  }
  const whole = readFileSync(ckpt('clip-state-dict.pt'))
  const cases: [string, () => string, RegExp][] = [
    [
      'truncated zip',
      () => write('truncated.pt', whole.subarray(0, whole.length >> 1)),
      /truncated\.pt: (not a zip archive, or truncated|truncated)/,
    ],
    [
      'corrupt central directory',
      () => {
        const bytes = Uint8Array.from(whole)
        const eocd = bytes.length - 22
        const cd = new DataView(bytes.buffer).getUint32(eocd + 16, true)
        bytes.fill(0x55, cd, cd + 8)
        return write('corrupt.pt', bytes)
      },
      /corrupt\.pt: corrupt zip/,
    ],
    [
      'an empty zip',
      () => write('empty.zip', Uint8Array.from([0x50, 0x4b, 5, 6, ...new Array(18).fill(0)])),
      /empty\.zip: a zip archive but not a PyTorch checkpoint/,
    ],
    ['legacy torch.save', () => ckpt('legacy.pt'), /legacy\.pt: legacy \(pre-1\.6, non-zip\) torch\.save format/],
    ['a JSON file', () => ckpt('tiny-audio.json'), /tiny-audio\.json: not a checkpoint vipant can read/],
    ['an empty file', () => write('empty.pt', new Uint8Array()), /empty\.pt: not a checkpoint vipant can read/],
    [
      'a torch.save that is no model',
      () => ckpt('strided.pt'),
      /strided\.pt: a torch\.save file, but not a state dict/,
    ],
    ['an audio head without its cfg', () => ckpt('tiny-audio.safetensors'), /bare VIP-ANT audio-head state dict/],
    ['a missing file', () => path.join(tmp, 'nope.pt'), /nope\.pt: no such file/],
  ]
  for (const [what, file, message] of cases) {
    test(what, async () => {
      await assert.rejects(
        loadModelFile(file()),
        (e: Error) => e instanceof UserError && message.test(e.message) && !e.message.includes('\n'),
      )
    })
  }

  test('an incomplete CLIP state dict names what is missing', async () => {
    const {tensors} = await readSafetensors(ckpt('tiny-clip.safetensors'))
    tensors.delete('visual.ln_post.bias')
    const file = write('incomplete.safetensors', encodeSafetensors(tensors))
    await assert.rejects(
      loadModelFile(file),
      /incomplete\.safetensors: not a complete CLIP\/VIP-ANT model: visual\.ln_post\.bias is missing/,
    )
  })
})

describe("vipant's checkpoint format", () => {
  for (const out of ['dir-out', 'file-out.safetensors']) {
    test(`${out}: CLIP and audio round-trip exactly`, async () => {
      const clip = await loadModelFile(ckpt('clip-jit.pt'))
      const audio = await loadModelFile(ckpt('vipant-at.pth'))
      const files = await writeVipantCheckpoint(path.join(tmp, out), {
        ...clip,
        audio: audio.audio,
        logitScale: audio.logitScale,
      })
      assert.equal(files.length, out.endsWith('.safetensors') ? 1 : 2)
      const back = await loadModelFile(path.join(tmp, out))
      assert.equal(back.format, 'vipant')
      assertSameState(back.clip!, clip.clip!)
      assertSameState(back.audio!.weights, audio.audio!.weights)
      assert.deepEqual(back.audio!.config, audio.audio!.config)
      assert.equal(back.logitScale, audio.logitScale)
      assert.deepEqual(back.architecture, {...clip.architecture, ...audio.architecture})
      assert.equal((back.info.source as {format: string}).format, 'openai-clip-torchscript')
      const {metadata} = await readSafetensors(files[0])
      assert.equal(JSON.parse(metadata.vipant).format, 'vipant')
    })
  }
})
