import {execFileSync} from 'node:child_process'
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {VIPANT} from './cli.js'
import {TestServer} from './download-server.js'
import {fixture, sharedData} from './helpers.js'
import {writeTinyVipant} from './tiny-models.js'
import {ZOO} from '../src/lib/checkpoint/zoo.js'

/**
 * The world a README or --help command finds on a user's machine, built in a temp dir: HOME with the datasets the
 * examples name (~/data/ESC-50, ~/Music/field-recordings, ...), $VIPANT_HOME with every released model as a tiny
 * random one, a working directory with the files the examples name (a.wav, labels.txt, videos/, ...), `vipant` on
 * PATH, and a local mirror and "YouTube" serving small archives and videos, so that downloads run as printed.
 */
export interface World {
  root: string
  home: string
  vipantHome: string
  cwd: string
  env: NodeJS.ProcessEnv
  server: TestServer
}

/** Clips of UrbanSound8K fold 10 in ~/data (enough for `--holdout 200`) and in $VIPANT_HOME/data: few, for speed. */
const US8K_CLIPS = {home: 210, cache: 20}

/** Real directories whose files are symlinks to SRC's, so that writing into the copy (a download) never reaches SRC. */
function linkTree(src: string, dest: string, keep: (relative: string) => boolean = () => true, relative = ''): string {
  mkdirSync(dest, {recursive: true})
  for (const name of readdirSync(src).sort()) {
    const from = path.join(src, name)
    const rel = path.join(relative, name)
    if (statSync(from).isDirectory()) linkTree(from, path.join(dest, name), keep, rel)
    else if (keep(rel)) symlinkSync(from, path.join(dest, name))
  }
  return dest
}

function links(dir: string, files: Record<string, string>): string {
  for (const [name, target] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), {recursive: true})
    symlinkSync(target, path.join(dir, name))
  }
  return dir
}

function write(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), {recursive: true})
    writeFileSync(path.join(dir, name), text)
  }
}

/** FILES (relative path -> source file) packed by 7-Zip as ARCHIVE, stored uncompressed (quick to make), in a folder under ROOT. */
function pack(root: string, files: Record<string, string>, archive: string, type: '7z' | 'zip'): Buffer {
  const dir = mkdtempSync(path.join(root, 'pack-'))
  for (const [name, from] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), {recursive: true})
    copyFileSync(from, path.join(dir, name))
  }
  const out = path.join(dir, archive)
  const tops = [...new Set(Object.keys(files).map((f) => f.split('/')[0]))]
  execFileSync('7z', ['a', `-t${type}`, '-mx0', '-bd', out, ...tops], {cwd: dir, stdio: 'ignore'})
  return readFileSync(out)
}

const us8kFold = () => sharedData('us8k', 'audio', 'fold10')
const us8kWavs = () => readdirSync(us8kFold()).sort()
const video = (name: string) => sharedData('video', name)

/** "YouTube" videos by id: the AudioSet and AudioCaps rows of the world name these. */
const YOUTUBE: Record<string, string> = {
  bbbprog0010: 'bbb_prog_10s.mp4',
  chaplin0096: 'chaplin_9.6s_h264_mp3.mp4',
  smpte000010: 'synthetic_smpte_10s_aac.mp4',
}

/** An AudioSet segments CSV in the official form (3 comment lines, ", " separators). */
function segmentsCsv(rows: [string, number, number, string][]): string {
  return [
    '# Segments csv created Sun Mar  5 10:54:31 2017',
    `# num_ytids=${rows.length}, num_segs=${rows.length}, num_unique_labels=2, num_positive_labels=${rows.length}`,
    '# YTID, start_seconds, end_seconds, positive_labels',
    ...rows.map(([id, start, end, label]) => `${id}, ${start.toFixed(3)}, ${end.toFixed(3)}, "${label}"`),
    '',
  ].join('\n')
}

/** An AudioCaps split CSV of ROWS [audiocap_id, youtube_id, start_time, caption]. */
const audiocapsCsv = (rows: [number, string, number, string][]) =>
  `audiocap_id,youtube_id,start_time,caption\n${rows.map((r) => r.join(',')).join('\n')}\n`

/** VIP-ANT's AudioSet download tree of two clips (aclip/ID.p0.mp3, frame/ID.p0.4_0k.jpg) with its src_*.csv index. */
function vipantAudioset(root: string): void {
  const lines: string[] = []
  for (const [id, frames] of Object.entries({clipA: 'bbb_prog_10s', clipB: 'chaplin_9.6s_h264_mp3'})) {
    const files: Record<string, string> = {
      [`all_0_35000/aclip/${id}.p0.mp3`]: sharedData('derived', 'us8k_100648-1-4-0_44k.mp3'),
    }
    for (let k = 1; k <= 4; k++)
      files[`all_0_35000/frame/${id}.p0.4_0${k}.jpg`] = sharedData('derived', 'frames', `${frames}.p0.4_0${k}.jpg`)
    links(root, files)
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
}

/**
 * AudioCaps as `retrieve --data audiocaps` reads it: the official CSVs, train cut to its 20 clips on disk (so that
 * `--fraction 0.1` leaves a batch), 4 clips of val and of test on disk.
 */
function audiocapsOnDisk(root: string): void {
  const wavs = us8kWavs()
  let n = 0
  for (const [split, clips] of [
    ['train', 20],
    ['val', 4],
    ['test', 4],
  ] as const) {
    const lines = readFileSync(sharedData('audiocaps', 'v1', `${split}.csv`), 'utf8')
      .trim()
      .split('\n')
    const ytids = [...new Set(lines.slice(1).map((line) => line.split(',')[1]))].slice(0, clips)
    for (const ytid of ytids) links(root, {[`audio/${ytid}.wav`]: path.join(us8kFold(), wavs[n++])})
    if (split === 'train')
      write(root, {
        'v1/train.csv': `${[lines[0], ...lines.slice(1).filter((l) => ytids.includes(l.split(',')[1]))].join('\n')}\n`,
      })
    else links(root, {[`v1/${split}.csv`]: sharedData('audiocaps', 'v1', `${split}.csv`)})
  }
}

function run(world: World, command: string): void {
  execFileSync('bash', ['-o', 'pipefail', '-c', command], {
    cwd: world.cwd,
    env: world.env,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
}

/** Builds the world; the server is started and must be closed by the caller. */
export async function buildWorld(): Promise<World> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'vipant-as-printed-'))
  const home = path.join(root, 'home')
  const vipantHome = path.join(home, '.cache', 'vipant')
  const cwd = path.join(root, 'work')
  const bin = path.join(root, 'bin')
  mkdirSync(cwd, {recursive: true})
  mkdirSync(bin)
  // `vipant` as `npm link` or a global install puts it on PATH.
  writeFileSync(
    path.join(bin, 'vipant'),
    `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(VIPANT)} "$@"\n`,
  )
  chmodSync(path.join(bin, 'vipant'), 0o755)

  const server = await new TestServer().start()
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${bin}:${process.env.PATH}`,
    HOME: home,
    VIPANT_HOME: vipantHome,
    VIPANT_MIRROR: `${server.url}/mirror`,
    VIPANT_YOUTUBE_URL: `${server.url}/yt/{id}.mp4`,
    VIPANT_NET_TIMEOUT: '10',
    VIPANT_NET_RETRIES: '1',
    HTTP_PROXY: '',
    HTTPS_PROXY: '',
    ALL_PROXY: '',
    http_proxy: '',
    https_proxy: '',
    all_proxy: '',
    NO_PROXY: '127.0.0.1',
    VIPANT_OFFLINE: '',
  }
  const world: World = {root, home, vipantHome, cwd, env, server}

  // Every released model, as the same tiny random towers (the loader goes by content, not by file name).
  const tiny = await writeTinyVipant(root, 'tiny.safetensors')
  mkdirSync(path.join(vipantHome, 'models'), {recursive: true})
  for (const entry of ZOO) copyFileSync(tiny, path.join(vipantHome, 'models', entry.file))

  // Datasets in HOME, as the examples name them.
  const wavs = us8kWavs()
  const us8kSubset = (dest: string, clips: number) =>
    links(dest, {
      'metadata/UrbanSound8K.csv': sharedData('us8k', 'metadata', 'UrbanSound8K.csv'),
      ...Object.fromEntries(wavs.slice(0, clips).map((f) => [`audio/fold10/${f}`, path.join(us8kFold(), f)])),
    })
  linkTree(sharedData('esc50'), path.join(home, 'data', 'ESC-50'))
  us8kSubset(path.join(home, 'data', 'UrbanSound8K'), US8K_CLIPS.home)
  linkTree(sharedData('clotho'), path.join(home, 'data', 'clotho'))
  const audioset = linkTree(
    sharedData('audioset'),
    path.join(home, 'data', 'audioset'),
    (f) => !f.endsWith('segments.csv'),
  )
  write(audioset, {
    'balanced_train_segments.csv': segmentsCsv([
      ['bbbprog0010', 0, 10, '/m/09x0r'],
      ['gone0000404', 30, 40, '/m/04rlf'],
    ]),
    'eval_segments.csv': segmentsCsv([
      ['chaplin0096', 0, 9, '/m/04rlf'],
      ['smpte000010', 0, 10, '/m/09x0r'],
      ['gone0000405', 0, 10, '/m/09x0r'],
    ]),
  })
  links(home, {
    'Music/field-recordings/street/horn.wav': path.join(us8kFold(), wavs[1]),
    'Music/field-recordings/dog.wav': path.join(us8kFold(), wavs[3]),
    'Music/field-recordings/siren.mp3': sharedData('derived', 'us8k_100648-1-4-0_44k.mp3'),
    'Downloads/ViT-B-32.pt': fixture('checkpoint', 'clip-jit.pt'),
    '.cache/clip/ViT-B-32.pt': fixture('checkpoint', 'clip-jit.pt'),
  })
  // $VIPANT_HOME/data, where commands without DIR look (esc50 is left to `fetch esc50 --download`).
  us8kSubset(path.join(vipantHome, 'data', 'us8k'), US8K_CLIPS.cache)
  linkTree(sharedData('clotho'), path.join(vipantHome, 'data', 'clotho'))
  audiocapsOnDisk(path.join(vipantHome, 'data', 'audiocaps'))

  // The working directory's own files.
  vipantAudioset(path.join(cwd, 'audioset'))
  const clips = (names: string[]) =>
    Object.fromEntries(names.map((name, i) => [name, path.join(us8kFold(), wavs[10 + i])]))
  links(cwd, {
    ...clips([
      'my-sounds/dog.wav',
      'my-sounds/street/horn.wav',
      'my-sounds/drill.wav',
      'mine/a.wav',
      'mine/b.wav',
      'a.wav',
      'clip1.wav',
      'recording.wav',
    ]),
    'b.mp3': sharedData('derived', 'us8k_100648-1-4-0_44k.mp3'),
    'clip2.mp3': sharedData('derived', 'us8k_100648-1-4-0_44k.mp3'),
    'video.mp4': video('bbb_2s_h264_mp3.mp4'),
    'videos/bbb.mp4': video('bbb_prog_10s.mp4'),
    'videos/chaplin.mp4': video('chaplin_9.6s_h264_mp3.mp4'),
    '00083391.pth': fixture('checkpoint', 'vipant-va.pth'),
    '00071478.pth': fixture('checkpoint', 'vipant-va.pth'),
    '00006900.pth': fixture('checkpoint', 'vipant-at.pth'),
    'clip-vit-base-patch32/model.safetensors': fixture('checkpoint', 'clip-hf.safetensors'),
  })
  write(cwd, {
    'labels.txt': 'dog bark\ncar horn\njackhammer\nsiren\n',
    'classes.txt': 'dog bark\ncar horn\njackhammer\nsiren\n',
    'captions.txt': 'a dog barks\nrain falls on a roof\na man speaks\nbirds chirp\na car passes by\nmusic plays\n',
    'va.yaml': 'data: va.arrow\nout: runs/va-yaml\ninit: clip-vit-b32\nbatch-size: 2\n',
  })

  // The mirror: what `--download` fetches, small.
  const esc50 = sharedData('esc50')
  const publish = (url: string, body: Buffer) => server.serve(`/mirror/${url.replace(/^https:\/\//, '')}`, body)
  publish(
    'https://github.com/karolpiczak/ESC-50/archive/master.zip',
    pack(
      root,
      {
        'ESC-50-master/meta/esc50.csv': path.join(esc50, 'meta', 'esc50.csv'),
        ...Object.fromEntries(
          readdirSync(path.join(esc50, 'audio')).map((f) => [`ESC-50-master/audio/${f}`, path.join(esc50, 'audio', f)]),
        ),
      },
      'master.zip',
      'zip',
    ),
  )
  const zenodo = 'https://zenodo.org/records/4783391/files'
  const clotho = sharedData('clotho')
  const evaluation = readdirSync(path.join(clotho, 'evaluation'))
  const noCaptions = path.join(root, 'clotho_captions_validation.csv')
  writeFileSync(noCaptions, 'file_name,caption_1,caption_2,caption_3,caption_4,caption_5\n')
  publish(
    `${zenodo}/clotho_captions_development.csv`,
    readFileSync(path.join(clotho, 'clotho_captions_development.csv')),
  )
  publish(`${zenodo}/clotho_captions_validation.csv`, readFileSync(noCaptions))
  publish(`${zenodo}/clotho_captions_evaluation.csv`, readFileSync(path.join(clotho, 'clotho_captions_evaluation.csv')))
  const evaluationFiles = Object.fromEntries(
    evaluation.map((f) => [`evaluation/${f}`, path.join(clotho, 'evaluation', f)]),
  )
  publish(`${zenodo}/clotho_audio_evaluation.7z`, pack(root, evaluationFiles, 'e.7z', '7z'))
  publish(
    `${zenodo}/clotho_audio_development.7z`,
    pack(root, {'development/dev.wav': path.join(us8kFold(), wavs[20])}, 'd.7z', '7z'),
  )
  publish(
    `${zenodo}/clotho_audio_validation.7z`,
    pack(root, {'validation/val.wav': path.join(us8kFold(), wavs[21])}, 'v.7z', '7z'),
  )
  const audiocaps = 'https://raw.githubusercontent.com/cdjkim/audiocaps/master/dataset'
  publish(
    `${audiocaps}/train.csv`,
    Buffer.from(
      audiocapsCsv([
        [1, 'bbbprog0010', 0, 'a cartoon rabbit wakes up'],
        [2, 'chaplin0096', 0, 'music plays'],
      ]),
    ),
  )
  publish(`${audiocaps}/val.csv`, Buffer.from(audiocapsCsv([[3, 'smpte000010', 0, 'a steady tone']])))
  publish(
    `${audiocaps}/test.csv`,
    Buffer.from(
      audiocapsCsv([
        [4, 'chaplin0096', 0, 'piano music'],
        [5, 'gone0000406', 0, 'a dog barks'],
      ]),
    ),
  )
  for (const [id, file] of Object.entries(YOUTUBE))
    server.serve(`/yt/${id}.mp4`, readFileSync(video(file)), 'video/mp4')

  // Tables the examples take as given inputs.
  run(
    world,
    'vipant fetch audiocaps ~/.cache/vipant/data/audiocaps --split train | vipant mel --max-len 200 -o audiocaps-train.arrow',
  )
  run(
    world,
    'vipant fetch audiocaps ~/.cache/vipant/data/audiocaps --split val | vipant mel --max-len 200 -o audiocaps-val.arrow',
  )
  const shapes = path.join(root, 'shapes')
  run(
    world,
    `vipant synth ${shapes} --clips 2 --concepts 2 && vipant fetch synth ${shapes} --split image-text | vipant mel --frames 1 --max-len 200 -o shapes.arrow`,
  )
  return world
}
