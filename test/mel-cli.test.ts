import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, existsSync, readdirSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {RecordBatchReader} from '../src/lib/arrow/apache-arrow.js'
import {tableFromIPC} from '@uwdata/flechette'
import {readFileSync} from 'node:fs'
import {openTableInput} from '../src/lib/arrow/input.js'
import {readStages} from '../src/lib/arrow/provenance.js'
import {tensorRow} from '../src/lib/arrow/tensor.js'
import {pipeline, vipant} from './cli.js'
import {sharedData, skipWithoutShared} from './helpers.js'

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'vipant-cli-'))

test(
  'fetch us8k | mel -o x.arrow: 837 rows of (1000,128) log-mels, memory bounded',
  {skip: skipWithoutShared, timeout: 300_000},
  async () => {
    const out = path.join(tmp(), 'x.arrow')
    const child = pipeline(`vipant fetch us8k ${sharedData('us8k')} | vipant mel --strict -o ${out}`)
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    const code = await new Promise((resolve) => child.on('close', resolve))
    assert.equal(code, 0, stderr)
    // fetch lists all 8732 clips; only fold 10 is on disk, so mel counts 7895 missing and leaves them out.
    const summary = /mel: (\d+) clips \((\d+) ok, (\d+) missing, (\d+) errors\).* peak memory (\d+) MB/.exec(stderr)
    assert.ok(summary, stderr)
    assert.deepEqual(summary.slice(1, 5).map(Number), [8732, 837, 7895, 0])
    assert.ok(Number(summary[5]) < 400, `peak RSS ${summary[5]} MB`)

    // Read back with an independent Arrow implementation.
    const table = tableFromIPC(readFileSync(out), {useProxy: false})
    const status = table.getChild('status').toArray() as string[]
    const mel = table.getChild('mel').toArray() as (Float32Array | null)[]
    const frames = table.getChild('mel_frames').toArray() as (number | null)[]
    assert.equal(table.numRows, 837)
    assert.ok(status.every((s) => s === 'ok'))
    assert.ok((table.getChild('fold').toArray() as number[]).every((f) => f === 10))
    for (let i = 0; i < table.numRows; i++) {
      assert.equal(mel[i]!.length, 1000 * 128)
      // US8K clips are at most 4 s: at most 398 real frames, the rest is padding (0 before normalising).
      assert.ok(frames[i]! > 0 && frames[i]! <= 400)
      assert.ok(Math.abs(mel[i]![999 * 128] - 0.8577305) < 1e-5)
    }
    assert.equal(table.schema.fields.find((f) => f.name === 'mel')!.metadata!.get('shape'), '[1000,128]')
  },
)

test(
  'a two-stage pipe emits rows before its first stage has finished',
  {skip: skipWithoutShared, timeout: 300_000},
  async () => {
    // Stage 1 computes 10 s log-mels of fold 10; stage 2 recomputes them at 5 s from the paths it reads.
    const fold = sharedData('us8k', 'audio', 'fold10')
    const child = pipeline(
      `{ vipant mel ${fold} --batch-size 8; echo "stage1-exit $(date +%s%3N)" >&2; } | vipant mel --max-len 500 --batch-size 8`,
    )
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    let firstBatchAt = 0
    let rows = 0
    let batches = 0
    const reader = await RecordBatchReader.from(child.stdout)
    for await (const batch of reader) {
      if (batches++ === 0) firstBatchAt = Date.now()
      rows += batch.numRows
      assert.equal(batch.getChild('mel')!.type.listSize, 500 * 128)
    }
    await new Promise((resolve) => child.on('close', resolve))
    const stage1Exit = Number(/stage1-exit (\d+)/.exec(stderr)?.[1])
    assert.equal(rows, 837)
    assert.ok(batches > 50, `${batches} batches`)
    assert.ok(
      firstBatchAt < stage1Exit,
      `stage 2's first batch came ${firstBatchAt - stage1Exit} ms after stage 1 exited`,
    )
  },
)

test(
  'mel on media files directly, with a corrupt file recorded as an error row',
  {skip: skipWithoutShared},
  async () => {
    const dir = tmp()
    const bad = path.join(dir, 'broken.wav')
    await import('node:fs/promises').then((fs) => fs.writeFile(bad, 'RIFF....WAVEjunk'))
    const esc = sharedData('esc50', 'audio', '1-56234-A-9.wav')
    const out = path.join(dir, 'm.arrows')
    const r = vipant(['mel', esc, bad, '--max-len', '500', '-o', out])
    assert.equal(r.status, 0, r.stderr.toString())
    const input = await openTableInput(out)
    const stages = readStages(input.schema)
    assert.deepEqual(
      stages.map((s) => s.command),
      ['fetch', 'mel'],
    )
    assert.equal(stages[1].params.max_len, 500)
    const rows = []
    for await (const b of input.batches)
      for (let i = 0; i < b.numRows; i++)
        rows.push({
          status: b.getChild('status')!.get(i),
          error: b.getChild('error')!.get(i),
          mel: tensorRow(b.getChild('mel')!, i),
          frames: b.getChild('mel_frames')!.get(i),
        })
    assert.equal(rows[0].status, 'ok')
    assert.equal(rows[0].mel!.length, 500 * 128)
    assert.equal(rows[0].frames, 498) // 5 s at 44.1 kHz: 1 + (220500 - 1102) / 441
    assert.equal(rows[1].status, 'error')
    assert.match(rows[1].error!, /broken\.wav/)

    const strict = vipant(['mel', esc, bad, '--strict', '-o', path.join(dir, 'strict.arrow')])
    assert.notEqual(strict.status, 0)
    const lines = strict.stderr.toString().trim().split('\n')
    assert.equal(lines.length, 1, strict.stderr.toString())
    assert.match(lines[0], /^vipant mel: .*broken\.wav/)
    assert.ok(!existsSync(path.join(dir, 'strict.arrow')))
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('strict')),
      [],
    )
  },
)

test('bad input: one line naming the file, non-zero exit, nothing written', () => {
  const dir = tmp()
  const r = vipant(['mel', path.join(dir, 'nope.arrow'), '-o', path.join(dir, 'o.arrow')])
  assert.equal(r.status, 2)
  assert.equal(r.stderr.toString(), `vipant mel: ${path.join(dir, 'nope.arrow')}: no such file or directory\n`)
  assert.deepEqual(readdirSync(dir), [])
  const norms = vipant(['mel', '-', '--norms', 'x'], {input: Buffer.alloc(0)})
  assert.equal(norms.status, 2)
  assert.match(norms.stderr.toString(), /^vipant mel: --norms: expected "mean,std"/)
})

test(
  '--frames: listed AudioSet frames or frames cut from a video, CLIP-preprocessed',
  {skip: skipWithoutShared, timeout: 120_000},
  async () => {
    const {symlinkSync, mkdirSync, writeFileSync} = await import('node:fs')
    const {clipPreprocess} = await import('../src/lib/image/clip-preprocess.js')
    const {decodeImage, extractFrames} = await import('../src/lib/image/frames.js')
    // A VIP-ANT download layout made of links to the shared files: <chunk>/aclip/<ytid>.p0.mp3, <chunk>/frame/<ytid>.p0.4_0k.jpg
    const root = tmp()
    mkdirSync(path.join(root, 'all_0_35000', 'aclip'), {recursive: true})
    mkdirSync(path.join(root, 'all_0_35000', 'frame'))
    symlinkSync(
      sharedData('derived', 'us8k_100648-1-4-0_44k.mp3'),
      path.join(root, 'all_0_35000', 'aclip', 'bbb_prog_10s.p0.mp3'),
    )
    for (const k of [1, 2, 3, 4]) {
      const name = `bbb_prog_10s.p0.4_0${k}.jpg`
      symlinkSync(sharedData('derived', 'frames', name), path.join(root, 'all_0_35000', 'frame', name))
    }
    writeFileSync(
      path.join(root, 'balanced_train_segments.csv'),
      'YTID,start_seconds,end_seconds,positive_labels\nbbb_prog_10s,0.000,10.000,"/m/09x0r"\n',
    )
    const video = sharedData('video', 'bbb_prog_10s.mp4')
    const out = path.join(root, 'frames.arrow')
    const r = vipant(['mel', root, video, '--frames', '1', '-o', out])
    assert.equal(r.status, 0, r.stderr.toString())

    const table = tableFromIPC(readFileSync(out), {useProxy: false})
    assert.deepEqual(table.getChild('dataset').toArray(), ['audioset', 'folder'])
    const images = table.getChild('images').toArray() as Float32Array[]
    // One listed frame: the one the original evaluates with, ceil(4/2) - 1 = the 2nd.
    const listed = clipPreprocess(await decodeImage(sharedData('derived', 'frames', 'bbb_prog_10s.p0.4_02.jpg')))
    assert.deepEqual([...images[0]], [...listed])
    const cut = clipPreprocess((await extractFrames(video, [0]))[0])
    assert.deepEqual([...images[1]], [...cut])
    // The frame cut at 0 s is what Pillow makes of the original's `ffmpeg -ss 0 -frames:v 1 -q:v 1` JPEG (the shared one).
    const original = clipPreprocess(await decodeImage(sharedData('derived', 'frames', 'bbb_prog_10s.p0.4_01.jpg')))
    assert.deepEqual([...images[1]], [...original])
    assert.equal(table.schema.fields.find((f) => f.name === 'images')!.metadata!.get('shape'), '[-1,224,224,3]')
  },
)
