import assert from 'node:assert/strict'
import {copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {test} from 'node:test'
import {pipeline, vipant} from './cli.js'
import {sharedData, skipWithoutShared} from './helpers.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-train-frames-'))

/** A VIP-ANT AudioSet download tree of two clips: aclip/ID.p0.mp3, frame/ID.p0.4_0k.jpg, and its src_*.csv index. */
function audiosetTree(): string {
  const root = path.join(dir, 'audioset')
  const clips = {clipA: 'bbb_prog_10s', clipB: 'chaplin_9.6s_h264_mp3'}
  const lines: string[] = []
  for (const [id, frames] of Object.entries(clips)) {
    mkdirSync(path.join(root, 'all_0_35000', 'aclip'), {recursive: true})
    mkdirSync(path.join(root, 'all_0_35000', 'frame'), {recursive: true})
    copyFileSync(
      sharedData('derived', 'us8k_100648-1-4-0_44k.mp3'),
      path.join(root, 'all_0_35000', 'aclip', `${id}.p0.mp3`),
    )
    for (let k = 1; k <= 4; k++) {
      copyFileSync(
        sharedData('derived', 'frames', `${frames}.p0.4_0${k}.jpg`),
        path.join(root, 'all_0_35000', 'frame', `${id}.p0.4_0${k}.jpg`),
      )
    }
    const frame = [1, 2, 3, 4].map((k) => `p0.4_0${k}.jpg`)
    lines.push(
      JSON.stringify({
        dir: 'all_0_35000',
        aclip: ['p0.mp3'],
        frame,
        id,
        bos: '0.000',
        eos: '10.000',
        labels: ['/m/09x0r'],
      }),
    )
  }
  writeFileSync(path.join(root, 'src_balanced_train_segments.csv'), `${lines.join('\n')}\n`)
  return root
}

function run(command: string): Promise<{code: number | null; stderr: string}> {
  const child = pipeline(command)
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d))
  child.stdout.resume()
  return new Promise((resolve) => child.on('close', (code) => resolve({code, stderr})))
}

const TRAIN = '--model tiny --batch-size 2 --steps 1 --optimizer adam --lr 1e-3 --warmup-epochs 0'
const firstLoss = (run: string) =>
  JSON.parse(readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').split('\n')[0]).loss as number

test(
  'vipant mel audioset/ | vipant pretrain -o RUN: frames are read from the files the index names, as mel --frames would',
  {skip: skipWithoutShared, timeout: 180_000},
  async () => {
    const tree = audiosetTree()
    const byPath = path.join(dir, 'by-path')
    const piped = await run(`vipant mel ${tree} --max-len 200 | vipant pretrain -o ${byPath} ${TRAIN}`)
    assert.equal(piped.code, 0, piped.stderr)
    assert.match(piped.stderr, /embedding the frames of 2 clips with the frozen image tower/)

    // The same frames as pixels in the table (mel --frames 4 takes all four): the very same first step.
    const table = path.join(dir, 'pixels.arrow')
    const mel = vipant(['mel', tree, '--max-len', '200', '--frames', '4', '-o', table])
    assert.equal(mel.status, 0, mel.stderr.toString())
    const byPixels = path.join(dir, 'by-pixels')
    const trained = vipant(['pretrain', table, '-o', byPixels, ...TRAIN.split(' ')])
    assert.equal(trained.status, 0, trained.stderr.toString())
    assert.equal(firstLoss(byPath), firstLoss(byPixels))
  },
)

test(
  'a piped table the pair cannot use: one line, and the run directory is not left behind',
  {skip: skipWithoutShared, timeout: 60_000},
  async () => {
    const out = path.join(dir, 'no-frames')
    const result = await run(
      `vipant mel ${sharedData('esc50', 'audio', '1-56234-A-9.wav')} --max-len 200 | vipant pretrain -o ${out} ${TRAIN}`,
    )
    assert.equal(result.code, 2)
    assert.match(
      result.stderr,
      /\n[^\n]*input\.arrow: no usable rows for the audio-image pair: 1 without log-mel, frames or captions \(log-mels: vipant mel; frames: vipant mel --frames K on videos, an index table's frame files or videos, or vipant embed --tower image\)\n$/,
    )
    assert.equal(existsSync(out), false)
  },
)
