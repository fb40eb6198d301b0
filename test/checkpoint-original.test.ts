/**
 * VIP-ANT checkpoints as VIP-ANT's own code writes them (test/reference/original_checkpoints.py: its model classes,
 * Hydra-composed cfgs with unresolved interpolations, omegaconf 2.1 and 2.2 pickles), and the cfg reader's edge cases.
 */
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, describe, test} from 'node:test'
import * as tf from '@tensorflow/tfjs-core'
import {tableFromIPC} from '@uwdata/flechette'
import type {Field} from '../src/lib/arrow/apache-arrow.js'
import {columnData, utf8} from '../src/lib/arrow/columns.js'
import {openTableOutput} from '../src/lib/arrow/output.js'
import {sourceBatch, sourceSchema} from '../src/lib/arrow/stage.js'
import {tensorData, tensorField, type TensorType} from '../src/lib/arrow/tensor.js'
import {NUM_MEL_BINS, VIPANT_NORMS} from '../src/lib/audio/mel-config.js'
import {selectBackend} from '../src/lib/backend/index.js'
import {loadModelFile} from '../src/lib/checkpoint/load.js'
import {ConfigResolver} from '../src/lib/checkpoint/omegaconf.js'
import {CONFIG_LIMITS, plainConfig} from '../src/lib/checkpoint/pickled-config.js'
import {unpickle} from '../src/lib/checkpoint/pickle.js'
import {ZipArchive} from '../src/lib/checkpoint/zip.js'
import {AudioEncoder} from '../src/lib/model/audio-encoder.js'
import {UserError} from '../src/lib/util/errors.js'
import {vipant} from './cli.js'
import {fixture, maxAbsDiff, readF32} from './helpers.js'
import {assertSameState} from './state-dict-assert.js'

const original = (name: string) => fixture('original', name)
const manifest = JSON.parse(readFileSync(original('manifest.json'), 'utf8')) as {
  clips: number
  files: Record<
    string,
    {
      layout: number
      omegaconf: string
      resolved_audio: unknown
      logit_scale: Record<string, number>
      max_len: number
      embeddings: Record<string, {file: string; shape: [number, number]}>
    }
  >
}
const FILES = ['vipant-va.pth', 'vipant-at.pth'] as const
const CONFIG = {resolution: [1000, 128], patchSize: 8, stride: [16, 24]}
const tmp = mkdtempSync(path.join(os.tmpdir(), 'vipant-original-'))
after(() => rmSync(tmp, {recursive: true, force: true}))

/** The reference script's synthetic log-mel (`mel()` in original_checkpoints.py), the same float64 arithmetic. */
function mel(clip: number, frames: number): Float32Array {
  const out = new Float32Array(frames * NUM_MEL_BINS)
  for (let t = 0; t < frames; t++) {
    for (let f = 0; f < NUM_MEL_BINS; f++) {
      out[t * NUM_MEL_BINS + f] =
        Math.sin(0.05 * t + 0.3 * f + clip) * 1.5 + Math.cos(0.011 * t * (1 + (f % 7))) * 0.5 - 0.2 * clip
    }
  }
  return out
}

/** Embeddings agree when the largest difference is within 1e-5 of the largest reference magnitude (float32 both sides). */
function assertClose(got: ArrayLike<number>, want: Float32Array, what: string) {
  const scale = Math.max(...want.map(Math.abs))
  const diff = maxAbsDiff(got, want)
  assert.ok(diff <= 1e-5 * scale, `${what}: max |diff| ${diff} vs scale ${scale}`)
}

describe("VIP-ANT's own checkpoints load", () => {
  for (const file of FILES) {
    const expected = manifest.files[file]
    test(`${file} (omegaconf ${expected.omegaconf}): resolved cfg, audio config, logit scale`, async () => {
      const model = await loadModelFile(original(file))
      assert.equal(model.format, 'vipant-pth')
      assert.equal(model.info.layout, expected.layout === 2 ? '(audio, loss)' : '(image, audio, text, loss)')
      assert.deepEqual(model.audio!.config, CONFIG)
      assert.equal(model.architecture.audio!.positions, 1 + 63 * 6)
      assert.equal(model.logitScale, Math.fround(Object.values(expected.logit_scale)[0]))
      const cfg = model.info.cfg as {model: {audio: unknown}; dist_url: string}
      assert.deepEqual(cfg.model.audio, expected.resolved_audio)
      assert.equal(cfg.dist_url, 'tcp://localhost:12345')
      assert.equal(model.info.cfgUnresolved, undefined)
      assert.equal(model.info.inferred, undefined)
    })

    test(
      `${file}: audio embeddings equal the original forward pass at 1000, 500 and 1800 frames`,
      {timeout: 120_000},
      async () => {
        await selectBackend('wasm')
        const model = await loadModelFile(original(file))
        const encoder = AudioEncoder.fromStateDict(model.audio!.weights, model.audio!.config)
        for (const [frames, {file: ref, shape}] of Object.entries(expected.embeddings)) {
          const input = Float32Array.from(
            Array.from({length: manifest.clips}, (_, c) => [...mel(c, Number(frames))]).flat(),
          )
          const got = tf.tidy(() =>
            encoder.forward(tf.tensor3d(input, [manifest.clips, Number(frames), NUM_MEL_BINS])).dataSync(),
          )
          assert.equal(got.length, shape[0] * shape[1])
          assertClose(got, readF32(original(ref)), `${file} at ${frames} frames`)
        }
      },
    )
  }

  test('vipant convert reads them, reports the resolved audio grid and writes the same head', async () => {
    for (const file of FILES) {
      const run = vipant(['convert', original(file), path.join(tmp, `${file}.safetensors`), '--json'])
      assert.equal(run.status, 0, run.stderr.toString())
      const report = JSON.parse(run.stdout.toString())
      assert.deepEqual(report.audio, {config: CONFIG, grid: {rows: 63, cols: 6}})
      assert.deepEqual(report.info.cfg.model.audio.resolution, [1000, 128])
      assert.equal(run.stderr.toString(), '')
      const [input, back] = await Promise.all([
        loadModelFile(original(file)),
        loadModelFile(path.join(tmp, `${file}.safetensors`)),
      ])
      assertSameState(back.audio!.weights, input.audio!.weights)
      assert.deepEqual(back.audio!.config, CONFIG)
      assert.equal(back.logitScale, input.logitScale)
    }
  })

  test('vipant embed --tower audio gives the original embeddings', {timeout: 120_000}, async () => {
    const frames = 1000
    const table = path.join(tmp, 'mel.arrow')
    const fields = [utf8('id'), tensorField('mel', [frames, NUM_MEL_BINS])] as Field[]
    const schema = sourceSchema(fields, {
      command: 'mel',
      version: '0',
      params: {num_mel_bins: NUM_MEL_BINS, norms: VIPANT_NORMS},
    })
    const ids = Array.from({length: manifest.clips}, (_, c) => `clip${c}`)
    const out = openTableOutput(schema, table)
    await out.write(
      sourceBatch(schema, [
        columnData(fields[0], ids),
        tensorData(
          fields[1] as Field<TensorType>,
          ids.map((_, c) => mel(c, frames)),
        ),
      ]),
    )
    await out.close()
    for (const file of FILES) {
      const output = path.join(tmp, `${file}-emb.arrow`)
      const run = vipant([
        'embed',
        table,
        '--model',
        original(file),
        '--tower',
        'audio',
        '--raw',
        '--workers',
        '1',
        '-o',
        output,
      ])
      assert.equal(run.status, 0, run.stderr.toString())
      const got = (
        tableFromIPC(readFileSync(output), {useProxy: false}).getChild('audio_emb').toArray() as Float32Array[]
      ).flatMap((v) => [...v])
      assertClose(got, readF32(original(manifest.files[file].embeddings[String(frames)].file)), `vipant embed ${file}`)
    }
  })
})

describe('OmegaConf interpolation, against what OmegaConf 2.2 resolved', () => {
  const {env, cases} = JSON.parse(readFileSync(original('omegaconf-cases.json'), 'utf8')) as {
    env: Record<string, string>
    cases: {name: string; config: unknown; resolved?: unknown; error?: string}[]
  }
  const saved = {...process.env}
  Object.assign(process.env, env)
  delete process.env.VIPANT_UNSET
  after(() => {
    for (const key of Object.keys(env)) if (saved[key] === undefined) delete process.env[key]
  })
  for (const {name, config, resolved, error} of cases) {
    test(`${name}${error ? ` (OmegaConf: ${error})` : ''}`, () => {
      const cfg = new ConfigResolver(config, 'x.pth')
      if (resolved !== undefined) {
        assert.deepEqual(cfg.all(), {value: resolved, unresolved: []})
        assert.deepEqual(cfg.get([]), resolved)
      } else {
        assert.throws(
          () => cfg.get([]),
          (e: Error) =>
            e instanceof UserError && /^x\.pth: cfg key [\w.]+: /.test(e.message) && !e.message.includes('\n'),
        )
        assert.ok(cfg.all().unresolved.length > 0)
      }
    })
  }

  test('a key is absent only when it is: an interpolated container that leads nowhere is an error', () => {
    const cfg = new ConfigResolver({model: '${nope}', running: {}}, 'x.pth')
    assert.equal(cfg.has(['running', 'audio', 'max_len']), false)
    assert.throws(
      () => cfg.has(['model', 'audio', 'resolution']),
      (e: Error) =>
        e instanceof UserError && e.message === "x.pth: cfg key model: interpolation '${nope}': key 'nope' not found",
    )
  })

  test('an unresolvable key nobody needs stays as written, listed', () => {
    const cfg = new ConfigResolver({a: 1, hydra: {cwd: '${hydra:runtime.cwd}'}}, 'x.pth')
    assert.deepEqual(cfg.all(), {
      value: {a: 1, hydra: {cwd: '${hydra:runtime.cwd}'}},
      unresolved: ["cfg key hydra.cwd: unsupported resolver 'hydra' (vipant knows only oc.env)"],
    })
  })
})

/** A torch.save zip holding `pickle` as its data.pkl, other entries copied from `base` (stored, CRC-32 computed). */
async function torchZip(name: string, pickle: Uint8Array, base = original('vipant-va.pth')): Promise<string> {
  const zip = await ZipArchive.open(base)
  const entries: [string, Uint8Array][] = []
  try {
    const top = [...zip.entries.keys()].find((n) => n.endsWith('/data.pkl'))!.slice(0, -'/data.pkl'.length)
    for (const entry of zip.entries.keys())
      entries.push([
        `archive/${entry.slice(top.length + 1)}`,
        entry.endsWith('/data.pkl') ? pickle : await zip.read(entry),
      ])
  } finally {
    await zip.close()
  }
  const file = path.join(tmp, name)
  writeFileSync(file, storedZip(entries))
  return file
}

function crc32(bytes: Uint8Array): number {
  let crc = ~0
  for (const byte of bytes) {
    crc ^= byte
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1))
  }
  return ~crc >>> 0
}

function storedZip(entries: [string, Uint8Array][]): Uint8Array {
  const chunks: Buffer[] = []
  const central: Buffer[] = []
  let offset = 0
  for (const [name, data] of entries) {
    const nameBytes = Buffer.from(name)
    const header = Buffer.alloc(30)
    header.writeUInt32LE(0x04034b50, 0)
    header.writeUInt16LE(20, 4)
    header.writeUInt32LE(crc32(data), 14)
    header.writeUInt32LE(data.length, 18)
    header.writeUInt32LE(data.length, 22)
    header.writeUInt16LE(nameBytes.length, 26)
    const record = Buffer.alloc(46)
    record.writeUInt32LE(0x02014b50, 0)
    record.writeUInt16LE(20, 4)
    record.writeUInt16LE(20, 6)
    record.writeUInt32LE(crc32(data), 16)
    record.writeUInt32LE(data.length, 20)
    record.writeUInt32LE(data.length, 24)
    record.writeUInt16LE(nameBytes.length, 28)
    record.writeUInt32LE(offset, 42)
    chunks.push(header, nameBytes, Buffer.from(data))
    central.push(record, nameBytes)
    offset += 30 + nameBytes.length + data.length
  }
  const cd = Buffer.concat(central)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(entries.length, 8)
  end.writeUInt16LE(entries.length, 10)
  end.writeUInt32LE(cd.length, 12)
  end.writeUInt32LE(offset, 16)
  return Buffer.concat([...chunks, cd, end])
}

/** The original VA fixture's data.pkl with every pickled string `from` (a BINUNICODE) replaced by `to`. */
async function editedPickle(edits: [string, string][]): Promise<Uint8Array> {
  const zip = await ZipArchive.open(original('vipant-va.pth'))
  let bytes: Buffer
  try {
    bytes = Buffer.from(await zip.read([...zip.entries.keys()].find((n) => n.endsWith('/data.pkl'))!))
  } finally {
    await zip.close()
  }
  for (const [from, to] of edits) {
    const opcode = (s: string) => {
      const text = Buffer.from(s)
      const head = Buffer.alloc(5)
      head[0] = 0x58 // BINUNICODE
      head.writeUInt32LE(text.length, 1)
      return Buffer.concat([head, text])
    }
    const [needle, replacement] = [opcode(from), opcode(to)]
    const parts: Buffer[] = []
    let start = 0
    for (let at = bytes.indexOf(needle); at >= 0; at = bytes.indexOf(needle, start)) {
      parts.push(bytes.subarray(start, at), replacement)
      start = at + needle.length
    }
    assert.ok(parts.length > 0, `no pickled string ${from}`)
    parts.push(bytes.subarray(start))
    bytes = Buffer.concat(parts)
  }
  return bytes
}

describe('a VIP-ANT cfg that cannot say what the head needs is one clear line', () => {
  const cases: [string, [string, string][], RegExp][] = [
    [
      'a missing value (???)',
      [['${running.max_audio_len}', '???']],
      /: cfg key model\.audio\.resolution\.0: missing value \(\?\?\?\)$/,
    ],
    [
      'null where a number is needed',
      [['${running.max_audio_len}', '${running.text_emb}']],
      /: cfg key model\.audio\.resolution\.0: expected a positive integer, got null$/,
    ],
    [
      'a cycle',
      [['${running.audio.max_len}', '${model.audio.resolution.0}']],
      /: cfg key model\.audio\.resolution\.0: recursive interpolation \(a cycle\)$/,
    ],
    [
      'an unknown resolver',
      [['${running.max_audio_len}', '${hydra:runtime.cwd}']],
      /: cfg key model\.audio\.resolution\.0: unsupported resolver 'hydra'/,
    ],
    [
      'an unresolvable key',
      [['${running.max_audio_len}', '${running.nope}']],
      /: cfg key model\.audio\.resolution\.0: interpolation '\$\{running\.nope\}': key 'running\.nope' not found$/,
    ],
    [
      'a config the weights contradict',
      [['${running.max_audio_len}', '${running.audio.frame_shift}']],
      /the audio positional embedding has 379 rows, but a \[10,128\] input with stride \[16,24\] gives a 1x6 grid/,
    ],
    ['no stride', [['stride', 'strides']], /the cfg has no model\.audio\.pre_encoder\.stride, which no weight records/],
  ]
  for (const [what, edits, message] of cases) {
    test(what, async () => {
      const file = await torchZip(`${what.replaceAll(' ', '-')}.pth`, await editedPickle(edits))
      const clear = (e: Error) =>
        e instanceof UserError && e.message.startsWith(file) && message.test(e.message) && !e.message.includes('\n')
      await assert.rejects(loadModelFile(file), clear)
    })
  }

  test('renamed node classes read the same: nodes are known by _content and _val', async () => {
    const bytes = Buffer.from(await editedPickle([]))
    const text = bytes.toString('latin1')
    const renamed = Buffer.from(
      text
        .replaceAll('\nDictConfig\n', '\nDictConfigV3\n')
        .replaceAll('\nListConfig\n', '\nListConfigV3\n')
        .replaceAll('\nAnyNode\n', '\nAnyValueNode\n'),
      'latin1',
    )
    assert.notDeepEqual(renamed, bytes)
    const model = await loadModelFile(await torchZip('renamed.pth', renamed))
    assert.deepEqual(model.audio!.config, CONFIG)
  })

  test('what the cfg lacks is inferred from the weights, and said', async () => {
    const file = await torchZip(
      'no-sizes.pth',
      await editedPickle([
        ['resolution', 'resolution_'],
        ['max_len', 'max_len_'],
        ['patch_size', 'patch_size_'],
      ]),
    )
    const model = await loadModelFile(file)
    assert.deepEqual(model.audio!.config, CONFIG)
    assert.deepEqual(model.info.inferred, [
      "patch size 8 inferred from pre_encoder.conv1.weight's 8x8 filters (the cfg has no model.audio.pre_encoder.patch_size)",
      'max_len 1000 inferred from misc.positional_embedding (379 rows: 1 + 63x6 patches, the shortest input giving them; the cfg has no model.audio.resolution nor running.audio.max_len)',
    ])
    const run = vipant(['convert', file, path.join(tmp, 'no-sizes.safetensors'), '--json'])
    assert.equal(run.status, 0, run.stderr.toString())
    assert.match(
      run.stderr.toString(),
      /no-sizes\.pth: note: patch size 8 inferred .*\n.*no-sizes\.pth: note: max_len 1000 inferred/,
    )
    assert.ok(
      (JSON.parse(run.stdout.toString()).info.cfgUnresolved as string[]).some((line) =>
        line.includes("key 'running.audio.max_len' not found"),
      ),
    )
  })

  test('the notes print once per command, not once per worker thread that loads the model', async () => {
    const file = await torchZip(
      'no-sizes-workers.pth',
      await editedPickle([
        ['resolution', 'resolution_'],
        ['max_len', 'max_len_'],
        ['patch_size', 'patch_size_'],
      ]),
    )
    const lib = (name: string) => JSON.stringify(new URL(`../src/lib/${name}`, import.meta.url).href)
    const worker = path.join(tmp, 'load-worker.mjs')
    writeFileSync(
      worker,
      `import {serveTasks} from ${lib('util/worker-pool.js')}
      import {loadModelFile} from ${lib('checkpoint/load.js')}
      serveTasks(async () => { await loadModelFile(${JSON.stringify(file)}); process.stderr.write('loaded\\n'); return {result: 0} })`,
    )
    const main = `import {WorkerPool} from ${lib('util/worker-pool.js')}
      const pool = new WorkerPool(new URL(${JSON.stringify(`file://${worker}`)}), 3)
      await Promise.all([0, 1, 2].map(() => pool.run({})))
      console.log(pool.started)
      await pool.close()`
    writeFileSync(path.join(tmp, 'load-main.mjs'), main)
    const run = spawnSync(process.execPath, [path.join(tmp, 'load-main.mjs')])
    assert.equal(run.status, 0, run.stderr.toString())
    assert.equal(run.stdout.toString().trim(), '3', 'three workers loaded the model')
    const lines = run.stderr.toString().trim().split('\n')
    assert.equal(lines.filter((line) => line === 'loaded').length, 3, 'other lines of the workers pass through')
    assert.deepEqual(
      lines.filter((line) => line !== 'loaded').map((line) => line.replace(/ inferred .*/, '')),
      [`${file}: note: patch size 8`, `${file}: note: max_len 1000`],
    )
  })
})

describe('shared pickle nodes', () => {
  /** A pickle of {cfg: t_levels, model: ({}, {})} where t0 = (), t(k+1) = (tk, tk): 5 bytes a level, 2^levels leaves as a tree. */
  function laughs(levels: number): Uint8Array {
    const bytes = [0x80, 2, 0x7d, 0x58, 3, 0, 0, 0, ...Buffer.from('cfg'), 0x29]
    for (let i = 0; i < levels; i++) bytes.push(0x71, i, 0x68, i, 0x86)
    bytes.push(0x58, 5, 0, 0, 0, ...Buffer.from('model'), 0x7d, 0x7d, 0x86, 0x75, 0x2e)
    // SETITEMS needs a MARK before the first key
    bytes.splice(3, 0, 0x28)
    return Uint8Array.from(bytes)
  }

  test('a tree of 2^26 shared tuples is refused within 10 s', async () => {
    const file = await torchZip('laughs.pth', laughs(26))
    const start = performance.now()
    const message = `${file}: the cfg expands to more than ${CONFIG_LIMITS.values} values (a pickle that shares nodes); not a VIP-ANT config`
    await assert.rejects(loadModelFile(file), (e: Error) => e instanceof UserError && e.message === message)
    assert.ok(performance.now() - start < 10_000)
  })

  test('shared nodes are read once, within the limits', () => {
    const object = unpickle(laughs(10), {source: 'x'}) as Map<string, unknown>
    const cfg = plainConfig(object.get('cfg'), 'x') as unknown[]
    assert.equal(cfg[0], cfg[1])
    assert.equal(JSON.stringify(cfg).split('[]').length - 1, 1024)
  })

  test('nesting beyond the depth limit is refused', () => {
    let deep: unknown = []
    for (let i = 0; i <= CONFIG_LIMITS.depth; i++) deep = [deep]
    assert.throws(
      () => plainConfig(deep, 'x.pth'),
      (e: Error) => e instanceof UserError && e.message.startsWith('x.pth: the cfg nests deeper than 64 levels'),
    )
  })
})
