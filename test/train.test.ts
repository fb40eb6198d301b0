import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import {mkdtemp, readdir, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import * as tf from '@tensorflow/tfjs-core'
import type {RecordBatch} from '../src/lib/arrow/apache-arrow.js'
import {openTableInput} from '../src/lib/arrow/input.js'
import {openTableOutput, writeAll} from '../src/lib/arrow/output.js'
import {sourceBatch, sourceSchema} from '../src/lib/arrow/stage.js'
import {takeRows} from '../src/lib/arrow/take.js'
import {tensorData, tensorField} from '../src/lib/arrow/tensor.js'
import {columnData, int32, utf8} from '../src/lib/arrow/columns.js'
import {VIPANT_NORMS} from '../src/lib/audio/mel-config.js'
import {selectBackend} from '../src/lib/backend/index.js'
import {readSafetensors} from '../src/lib/checkpoint/safetensors.js'
import {AudioEncoder} from '../src/lib/model/audio-encoder.js'
import {stateDictOf} from '../src/lib/model/parameters.js'
import {loadRuntime} from '../src/lib/onnx/runtime.js'
import {parseConfigYaml, resolveConfig} from '../src/lib/train/config.js'
import {registerGradients} from '../src/lib/train/gradients.js'
import {contrastiveLoss} from '../src/lib/train/loss.js'
import {lars, learningRate, type Gradients} from '../src/lib/train/optimizer.js'
import {Sampler} from '../src/lib/train/sampler.js'
import {specAugment} from '../src/lib/train/spec-augment.js'
import {mulberry32} from '../src/lib/util/rng.js'
import {UserError} from '../src/lib/util/errors.js'
import {vipant, VIPANT} from './cli.js'
import {fixture, maxAbsDiff, readF32, sharedData, skipWithoutShared} from './helpers.js'

describe('LARS, its schedule and the loss, pinned to PyTorch (test/reference/train_lars.py)', () => {
  const manifest = JSON.parse(readFileSync(fixture('train', 'lars.json'), 'utf8'))
  const s = manifest.settings
  before(async () => {
    await selectBackend('wasm')
    await registerGradients()
  })

  it(`${s.steps} steps of a 2-layer audio tower: losses and weights within 1e-5`, async () => {
    const start = (await readSafetensors(fixture('model', 'audio.safetensors'))).tensors
    const audio = AudioEncoder.fromStateDict(start, {resolution: [200, 128], patchSize: 32, stride: [16, 24]}, true)
    const scale = tf.variable(tf.scalar(s.logit_scale, 'float32'))
    const params = [
      ...audio.parameters(),
      {
        name: 'logit_scale',
        parts: [scale],
        ndim: 0,
        toTorch: () => ({shape: [], dtype: 'float32' as const, data: Float32Array.of(scale.dataSync()[0])}),
      },
    ]
    const variables = params.flatMap((p) => p.parts) as tf.Variable[]
    const optimizer = lars({
      weightDecay: s.weight_decay,
      momentum: s.momentum,
      eta: s.eta,
      lrWeight: s.lr_weight,
      lrBias: s.lr_bias,
    })
    const mels = readF32(fixture('train', 'lars_mels.f32'))
    const texts = readF32(fixture('train', 'lars_texts.f32'))
    const [B, T] = [s.batch, 200]
    for (let step = 0; step < s.steps; step++) {
      const lr = learningRate(step, {peak: s.peak, warmupSteps: s.warmup_steps, totalSteps: s.total_steps})
      assert.ok(Math.abs(lr - manifest.lrs[step]) < 1e-12)
      const x = tf.tensor3d(mels.subarray(step * B * T * 128, (step + 1) * B * T * 128), [B, T, 128])
      const t = tf.tensor2d(texts.subarray(step * B * 64, (step + 1) * B * 64), [B, 64])
      const {value, grads} = tf.variableGrads(() => contrastiveLoss(audio.forward(x), t, scale as tf.Scalar), variables)
      assert.ok(
        Math.abs(value.dataSync()[0] - manifest.losses[step]) < 1e-5,
        `step ${step}: loss ${value.dataSync()[0]} vs ${manifest.losses[step]}`,
      )
      optimizer.apply(params, new Map(variables.map((v) => [v, grads[v.name]])) as Gradients, lr)
      tf.dispose([x, t, value, ...Object.values(grads)])
    }
    const expected = (await readSafetensors(fixture('train', 'lars_final.safetensors'))).tensors
    const got = stateDictOf(params)
    let moved = 0
    for (const [name, want] of expected) {
      assert.deepEqual(got.get(name)!.shape, want.shape, name)
      const diff = maxAbsDiff(got.get(name)!.data, want.data)
      assert.ok(diff <= 1e-5, `${name}: max abs diff ${diff}`)
      if (start.has(name)) moved = Math.max(moved, maxAbsDiff(start.get(name)!.data, want.data))
    }
    assert.ok(moved > 1e-3, `the reference weights moved by ${moved}: the comparison means something`)
    optimizer.dispose()
    audio.dispose()
    scale.dispose()
  })
})

describe('training pieces', () => {
  it('SpecAugment masks one frequency band and one time span with 0 (torchaudio mask_along_axis)', () => {
    const mel = new Float32Array(300 * 128).fill(1)
    const out = specAugment(mel, 128, 32, 200, mulberry32(7))
    const zeroBins = Array.from({length: 128}, (_, f) => out[5 * 128 + f] === 0).filter(Boolean).length
    const zeroFrames = Array.from({length: 300}, (_, t) =>
      out.subarray(t * 128, (t + 1) * 128).every((v) => v === 0),
    ).filter(Boolean).length
    assert.ok(zeroBins < 32 && zeroFrames < 200 && zeroFrames > 0)
    assert.equal(mel[0], 1, 'input untouched')
  })

  it('visits every clip once per epoch, in a seeded order, the last batch smaller', () => {
    const sampler = new Sampler(10, 4, 1213)
    const epoch0 = [0, 1, 2].flatMap((s) => sampler.batch(s).indices)
    assert.deepEqual(
      [...epoch0].sort((a, b) => a - b),
      [...Array(10).keys()],
    )
    assert.equal(sampler.batch(2).indices.length, 2)
    assert.equal(sampler.batch(3).epoch, 1)
    assert.notDeepEqual(sampler.batch(3).indices, sampler.batch(0).indices)
    assert.deepEqual(new Sampler(10, 4, 1213).batch(4).indices, sampler.batch(4).indices)
  })

  it('a last batch of one clip (no negatives, loss 0) joins the batch before it; one clip or batch 1 is refused', () => {
    const sampler = new Sampler(9, 4, 1213)
    assert.equal(sampler.stepsPerEpoch, 2)
    assert.deepEqual(
      [sampler.batch(0).indices.length, sampler.batch(1).indices.length, sampler.batch(2).epoch],
      [4, 5, 1],
    )
    assert.deepEqual(
      [...sampler.batch(0).indices, ...sampler.batch(1).indices].sort((a, b) => a - b),
      [...Array(9).keys()],
    )
    assert.equal(new Sampler(5, 4, 1).stepsPerEpoch, 1)
    assert.equal(new Sampler(1, 4, 1).stepsPerEpoch, 1)
    assert.throws(
      () => resolveConfig({pair: 'audio-text', data: 'd.arrow', out: 'o', batchSize: 1}),
      /batchSize must be at least 2/,
    )
  })

  it('config: YAML under flag or camelCase names, flags over it, unknown keys refused', () => {
    const file = parseConfigYaml('batch-size: 8\noptimizer: adam\nlogitScale: 4.6\n', 'x.yaml')
    const config = resolveConfig(file, {pair: 'audio-text', data: 'd.arrow', out: 'o', batchSize: 16})
    assert.deepEqual(
      [config.batchSize, config.optimizer, config.logitScale, config.weightDecay],
      [16, 'adam', 4.6, 1e-6],
    )
    assert.throws(() => parseConfigYaml('batchsize: 8', 'x.yaml'), UserError)
    assert.throws(() => parseConfigYaml('epochs: many', 'x.yaml'), UserError)
  })
})

/** A small synthetic audio-text table: log-mels whose energy sits in a class-specific band. */
async function syntheticTable(file: string, clips: number, frames: number): Promise<void> {
  const classes = ['dog bark', 'siren', 'drilling', 'car horn']
  const rng = mulberry32(5)
  const mel = tensorField('mel', [frames, 128])
  const schema = sourceSchema([utf8('id'), int32('label'), utf8('class'), mel], {
    command: 'test',
    version: '0',
    params: {num_mel_bins: 128, norms: VIPANT_NORMS},
  })
  const rows = Array.from({length: clips}, (_, i) => {
    const label = i % classes.length
    return Float32Array.from(
      {length: frames * 128},
      (_, k) => (Math.floor((k % 128) / 32) === label ? 1 : -1) + 0.3 * (rng() - 0.5),
    )
  })
  const batch = sourceBatch(schema, [
    columnData(
      schema.fields[0],
      rows.map((_, i) => `clip${i}`),
    ),
    columnData(
      schema.fields[1],
      rows.map((_, i) => i % classes.length),
    ),
    columnData(
      schema.fields[2],
      rows.map((_, i) => classes[i % classes.length]),
    ),
    tensorData(mel as never, rows),
  ])
  await writeAll(
    openTableOutput(schema, file),
    (async function* () {
      yield batch
    })(),
  )
}

const finalWeights = async (run: string, step: number) =>
  (await readSafetensors(path.join(run, 'checkpoints', `step-${String(step).padStart(8, '0')}`, 'model.safetensors')))
    .tensors

function sameWeights(a: Map<string, {data: Float32Array}>, b: Map<string, {data: Float32Array}>): void {
  assert.deepEqual([...a.keys()], [...b.keys()])
  for (const [name, t] of a) assert.equal(maxAbsDiff(t.data, b.get(name)!.data), 0, name)
}

/** Runs vipant until `until` holds (checked every 100 ms), then sends `signal`; resolves with the exit code. */
function interrupt(args: string[], until: () => boolean, signal: NodeJS.Signals): Promise<number | null> {
  const child = spawn(process.execPath, [VIPANT, ...args], {stdio: ['ignore', 'ignore', 'pipe']})
  const timer = setInterval(() => {
    if (until()) {
      clearInterval(timer)
      child.kill(signal)
    }
  }, 100)
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearInterval(timer)
      resolve(code)
    }),
  )
}

describe('vipant finetune on a tiny model: checkpoints, exact resume, NaN stop', () => {
  let dir: string
  let data: string
  const STEPS = 8
  const base = [
    '--model',
    'tiny',
    '--batch-size',
    '8',
    '--steps',
    String(STEPS),
    '--checkpoint-every',
    '2',
    '--keep',
    '10',
    '--warmup-epochs',
    '1',
    '--epochs',
    '20',
    '--time-mask',
    '8',
  ]
  const common = [...base, '--workers', '2']
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vipant-train-'))
    data = path.join(dir, 'data.arrow')
    await syntheticTable(data, 24, 64)
  })
  after(() => rm(dir, {recursive: true, force: true}))

  it('an uninterrupted run writes checkpoints, metrics and a loadable vipant checkpoint', async () => {
    const run = path.join(dir, 'full')
    const r = vipant(['finetune', data, '-o', run, ...common, '--holdout', '8', '--eval-every', '4', '--json'])
    assert.equal(r.status, 0, r.stderr.toString())
    assert.match(
      r.stderr.toString(),
      (await loadRuntime()) ? /^eval: onnxruntime-node \S+, cpu, \d+ threads$/m : /^eval: tfjs$/m,
    )
    const result = JSON.parse(r.stdout.toString())
    assert.deepEqual([result.steps, result.interrupted], [STEPS, false])
    const lines = readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    const steps = lines.filter((l) => !l.eval)
    assert.deepEqual(Object.keys(steps[0]), [
      'step',
      'epoch',
      'loss',
      'lr',
      'logit_scale',
      'grad_norm',
      'clips_per_s',
      'time',
    ])
    assert.deepEqual(
      steps.map((l) => l.step),
      [...Array(STEPS).keys()].map((i) => i + 1),
    )
    assert.deepEqual(
      lines.filter((l) => l.eval).map((l) => l.step),
      [4, 8],
    )
    assert.ok('zs_top1' in lines.find((l) => l.eval).eval)
    assert.deepEqual((await readdir(path.join(run, 'checkpoints'))).sort(), [
      'step-00000002',
      'step-00000004',
      'step-00000006',
      'step-00000008',
    ])
    // The checkpoint is a vipant model any command reads: embed its audio tower.
    const embedded = vipant([
      'embed',
      data,
      '--model',
      result.checkpoint,
      '--clip',
      path.join(run, 'init-clip'),
      '--tower',
      'audio',
      '-o',
      path.join(dir, 'emb.arrow'),
    ])
    assert.equal(embedded.status, 0, embedded.stderr.toString())
  })

  it('interrupted by SIGINT, then resumed: the same final weights, bit for bit', async () => {
    const full = path.join(dir, 'a')
    assert.equal(vipant(['finetune', data, '-o', full, ...common]).status, 0)
    const run = path.join(dir, 'b')
    const metrics = path.join(run, 'metrics.jsonl')
    const code = await interrupt(
      ['finetune', data, '-o', run, ...common],
      () => existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').length > 3,
      'SIGINT',
    )
    assert.equal(code, 130)
    const saved = await readdir(path.join(run, 'checkpoints'))
    assert.ok(
      saved.length > 0 && !saved.includes(`step-${String(STEPS).padStart(8, '0')}`),
      `stopped early with a checkpoint: ${saved}`,
    )
    const resumed = vipant(['finetune', '-o', run, '--resume'])
    assert.equal(resumed.status, 0, resumed.stderr.toString())
    sameWeights(await finalWeights(full, STEPS), await finalWeights(run, STEPS))
  })

  it('killed (SIGKILL) after a checkpoint, then resumed: the same final weights', async () => {
    const run = path.join(dir, 'c')
    const code = await interrupt(
      ['finetune', data, '-o', run, ...common],
      () => existsSync(path.join(run, 'checkpoints', 'step-00000004')),
      'SIGKILL',
    )
    assert.equal(code, null)
    const resumed = vipant(['finetune', '-o', run, '--resume'])
    assert.equal(resumed.status, 0, resumed.stderr.toString())
    sameWeights(await finalWeights(path.join(dir, 'a'), STEPS), await finalWeights(run, STEPS))
  })

  it('--checkpoint-blocks (recompute each block in the backward pass) trains to the same weights, bit for bit', async () => {
    const run = path.join(dir, 'recompute')
    const r = vipant(['finetune', data, '-o', run, ...common, '--checkpoint-blocks'])
    assert.equal(r.status, 0, r.stderr.toString())
    assert.match(
      readFileSync(path.join(run, 'checkpoints', `step-${String(STEPS).padStart(8, '0')}`, 'train.yaml'), 'utf8'),
      /checkpointBlocks: true/,
    )
    sameWeights(await finalWeights(path.join(dir, 'a'), STEPS), await finalWeights(run, STEPS))
  })

  it('one thread (the default for a tower this small) trains to the weights of 2 data-parallel workers within 1e-5; the count is saved', async () => {
    const run = path.join(dir, 'one-thread')
    const r = vipant(['finetune', data, '-o', run, ...base])
    assert.equal(r.status, 0, r.stderr.toString())
    assert.match(readFileSync(path.join(dir, 'a', 'train.yaml'), 'utf8'), /^workers: 2$/m)
    assert.match(readFileSync(path.join(run, 'train.yaml'), 'utf8'), /^workers: 1$/m)
    const [parallel, single] = [await finalWeights(path.join(dir, 'a'), STEPS), await finalWeights(run, STEPS)]
    for (const [name, t] of single) assert.ok(maxAbsDiff(t.data, parallel.get(name)!.data) <= 1e-5, name)
  })

  it('--resume takes --steps and --workers (saying the run is then no longer bit-identical) and names the flags it ignores', async () => {
    const run = path.join(dir, 'moved')
    const twoSteps = common.map((a, i) => (common[i - 1] === '--steps' ? '2' : a))
    assert.equal(vipant(['finetune', data, '-o', run, ...twoSteps]).status, 0)
    const r = vipant(['finetune', '-o', run, '--resume', '--steps', '4', '--workers', '1', '--batch-size', '4'])
    assert.equal(r.status, 0, r.stderr.toString())
    assert.match(r.stderr.toString(), /ignored with --resume \(the run's saved config rules\): --batch-size\n/)
    assert.match(r.stderr.toString(), /--workers 1 \(the run had 2\): the gradients sum in another order/)
    const saved = readFileSync(path.join(run, 'checkpoints', 'step-00000004', 'train.yaml'), 'utf8')
    assert.match(saved, /^workers: 1$/m)
    assert.match(saved, /^batchSize: 8$/m)
  })

  it("--workers beyond the table's clips starts only as many workers as a batch can use, the same slices; the count asked is saved", async () => {
    const small = path.join(dir, 'three.arrow')
    await syntheticTable(small, 3, 64)
    const run = path.join(dir, 'many-workers')
    const r = vipant([
      'finetune',
      small,
      '-o',
      run,
      ...base.map((a, i) => (base[i - 1] === '--steps' ? '1' : a)),
      '--workers',
      '16',
    ])
    assert.equal(r.status, 0, r.stderr.toString())
    assert.match(r.stderr.toString(), /^data-parallel: 3 worker threads, each with a copy of the trainable towers$/m)
    assert.match(readFileSync(path.join(run, 'train.yaml'), 'utf8'), /^workers: 16$/m)
  })

  it('a piped table is kept as RUN/input.arrow, which the config names, so the run resumes from it', async () => {
    const run = path.join(dir, 'piped')
    const twoSteps = common.map((a, i) => (common[i - 1] === '--steps' ? '2' : a))
    const r = vipant(['finetune', '-o', run, ...twoSteps], {input: readFileSync(data)})
    assert.equal(r.status, 0, r.stderr.toString())
    assert.ok(readFileSync(path.join(run, 'input.arrow')).equals(readFileSync(data)))
    assert.match(
      readFileSync(path.join(run, 'train.yaml'), 'utf8'),
      new RegExp(`^data: ${path.join(run, 'input.arrow')}$`, 'm'),
    )
    const resumed = vipant(['finetune', '-o', run, '--resume', '--steps', '4'])
    assert.equal(resumed.status, 0, resumed.stderr.toString())
    const again = vipant(['finetune', '-o', run, ...twoSteps], {input: Buffer.from('not arrow')})
    assert.equal(again.status, 2)
    assert.match(again.stderr.toString(), /already holds a run/)
    assert.ok(
      readFileSync(path.join(run, 'input.arrow')).equals(readFileSync(data)),
      'the kept table is not overwritten',
    )
  })

  it('stops on a non-finite loss with one line, keeping no bad checkpoint', () => {
    const run = path.join(dir, 'nan')
    const r = vipant(['finetune', data, '-o', run, ...common, '--logit-scale', '100'])
    assert.equal(r.status, 2)
    assert.match(
      r.stderr.toString(),
      /vipant finetune: loss is (NaN|Infinity) at step 1: stopped; the last good checkpoint is none/,
    )
    assert.ok(!existsSync(path.join(run, 'checkpoints')))
  })
})

describe('proof on real audio', {skip: skipWithoutShared}, () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vipant-proof-'))
  })
  after(() => rm(dir, {recursive: true, force: true}))

  it('US8K fold 10: a tiny audio tower fine-tuned on "the sound of <class>" beats chance zero-shot on held-out recordings', async () => {
    // 1 s log-mels keep it fast. Split by recording (fsID % 3 == 0 held out: 263 clips of all 10 classes, 574 to train),
    // so no held-out clip shares a recording with a training clip.
    const all = path.join(dir, 'us8k.arrow')
    const mel = vipant(['mel', sharedData('us8k'), '--dataset', 'us8k', '--max-len', '100', '-o', all])
    assert.equal(mel.status, 0, mel.stderr.toString())
    const input = await openTableInput(all)
    const batches: RecordBatch[] = []
    for await (const b of input.batches) batches.push(b)
    const part = (held: boolean) =>
      (async function* () {
        for (const b of batches) {
          const rows = [...Array(b.numRows).keys()].filter(
            (i) =>
              b.getChild('status')!.get(i) === 'ok' &&
              (Number(String(b.getChild('id')!.get(i)).split('-')[0]) % 3 === 0) === held,
          )
          if (rows.length) yield takeRows(b, rows)
        }
      })()
    const [train, val] = [path.join(dir, 'train.arrow'), path.join(dir, 'val.arrow')]
    await writeAll(openTableOutput(input.schema, train), part(false))
    await writeAll(openTableOutput(input.schema, val), part(true))
    const r = vipant([
      'finetune',
      train,
      '--val',
      val,
      '--model',
      'tiny',
      '-o',
      path.join(dir, 'run'),
      '--steps',
      '90',
      '--batch-size',
      '32',
      '--optimizer',
      'adam',
      '--lr',
      '2e-3',
      '--warmup-epochs',
      '0',
      '--time-mask',
      '20',
      '--freq-mask',
      '16',
      '--eval-every',
      '90',
      '--json',
    ])
    assert.equal(r.status, 0, r.stderr.toString())
    const {eval: metrics} = JSON.parse(r.stdout.toString())
    // Chance is 10% (10 classes); the majority class of the held-out set (drilling) is 22%.
    assert.ok(metrics.zs_top1 >= 24 && metrics.zs_top5 >= 60, JSON.stringify(metrics))
  })

  it('VA on real videos (frames + audio): runs, checkpoints, resumes, and its loss decreases', async () => {
    const table = path.join(dir, 'va.arrow')
    const videos = [
      'bbb_prog_10s.mp4',
      'chaplin_9.6s_h264_mp3.mp4',
      'sintel_2s_h264_mp3.mp4',
      'bbb_2s_h264_mp3.mp4',
      'synthetic_smpte_10s_aac.mp4',
      'synthetic_testpattern_8s_aac.mp4',
    ]
    const mel = vipant([
      'mel',
      ...videos.map((v) => sharedData('video', v)),
      '--max-len',
      '200',
      '--frames',
      '2',
      '-o',
      table,
    ])
    assert.equal(mel.status, 0, mel.stderr.toString())
    const run = path.join(dir, 'va')
    const args = [
      '--model',
      'tiny',
      '--batch-size',
      '6',
      '--optimizer',
      'adam',
      '--lr',
      '1e-3',
      '--warmup-epochs',
      '0',
      '--time-mask',
      '20',
      '--checkpoint-every',
      '10',
    ]
    const first = vipant(['pretrain', table, '-o', run, ...args, '--steps', '10'])
    assert.equal(first.status, 0, first.stderr.toString())
    assert.match(first.stderr.toString(), /embedding the frames of 6 clips with the frozen image tower/)
    const second = vipant(['pretrain', '-o', run, '--resume', '--steps', '30'])
    assert.equal(second.status, 0, second.stderr.toString())
    const losses = readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).loss as number)
    assert.equal(losses.length, 30)
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
    assert.ok(
      mean(losses.slice(-5)) < 0.75 * mean(losses.slice(0, 5)),
      `loss ${mean(losses.slice(0, 5))} -> ${mean(losses.slice(-5))}`,
    )
  })
})
