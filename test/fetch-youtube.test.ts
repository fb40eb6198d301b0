import {test, before, after} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {tableFromIPC} from '@uwdata/flechette'
import {probeMedia} from '../src/lib/util/ffmpeg.js'
import {decodeImage} from '../src/lib/image/frames.js'
import {TestServer, vipantAsync} from './download-server.js'
import {maxAbsDiff, sharedData, skipWithoutShared} from './helpers.js'

const hasYtDlp = (() => {
  try {
    execFileSync('yt-dlp', ['--version'], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
})()
const skipYtDlp =
  skipWithoutShared || (hasYtDlp ? false : 'needs yt-dlp (apt-get install yt-dlp), which .ci/run installs')

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'vipant-youtube-'))
const video = (name: string) => sharedData('video', name)

/** "YouTube" for these tests: a local server whose /yt/{id}.mp4 is the video itself, which yt-dlp's generic extractor downloads. */
const VIDEOS: Record<string, string> = {
  bbbwebm0030: 'bbb_0_30s_vp8_vorbis.webm',
  smpte000010: 'synthetic_smpte_10s_aac.mp4',
  flaky000503: 'bbb_prog_10s.mp4',
  chaplin0096: 'chaplin_9.6s_h264_mp3.mp4',
}

let server: TestServer
let env: NodeJS.ProcessEnv

before(async () => {
  server = await new TestServer().start()
  if (skipWithoutShared) return
  for (const [id, file] of Object.entries(VIDEOS))
    server.serve(`/yt/${id}.mp4`, readFileSync(video(file)), file.endsWith('.webm') ? 'video/webm' : 'video/mp4')
  server.fault('/yt/flaky000503.mp4', {status: 503, times: 1})
  env = {
    VIPANT_HOME: tmp(),
    VIPANT_YOUTUBE_URL: `${server.url}/yt/{id}.mp4`,
    VIPANT_NET_TIMEOUT: '5',
    VIPANT_NET_RETRIES: '0',
    HTTP_PROXY: '',
    http_proxy: '',
    NO_PROXY: '127.0.0.1',
  }
})

after(() => server.close())

/** ffmpeg's own picture at T seconds of FILE, extracted as the original did (docs/method.md §2.1). */
function ffmpegFrame(file: string, t: number): string {
  const out = path.join(tmp(), 'frame.jpg')
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-ss', String(t), '-i', file, '-frames:v', '1', '-q:v', '1', out])
  return out
}

const table = (file: string) =>
  tableFromIPC(readFileSync(file), {useProxy: false}).toArray() as Record<string, unknown>[]

test(
  'fetch audioset --download: yt-dlp gets each video, ffmpeg cuts the segment and 4 frames; gone and failed clips are rows, not crashes; a rerun skips what is done',
  {skip: skipYtDlp},
  async () => {
    const dir = tmp()
    // The official CSV form: 3 comment lines, ", " separators.
    writeFileSync(
      path.join(dir, 'balanced_train_segments.csv'),
      [
        '# Segments csv created Sun Mar  5 10:54:31 2017',
        '# num_ytids=4, num_segs=4, num_unique_labels=2, num_positive_labels=4',
        '# YTID, start_seconds, end_seconds, positive_labels',
        'bbbwebm0030, 12.000, 22.000, "/m/09x0r"',
        'gone0000404, 30.000, 40.000, "/m/09x0r"',
        'smpte000010, 0.000, 10.000, "/m/04rlf"',
        'flaky000503, 0.000, 10.000, "/m/04rlf"',
        '',
      ].join('\n'),
    )
    const out = path.join(dir, 'index.arrow')
    const r = await vipantAsync(['fetch', 'audioset', dir, '--download', '--jobs', '2', '-o', out], env)
    assert.equal(r.status, 0, r.stderr.toString())
    const log = path.join(dir, 'download-log.jsonl')
    assert.match(
      r.stderr.toString(),
      new RegExp(
        `fetch audioset: 2 downloaded, 0 already on disk, 1 unavailable, 1 failed \\(log: ${log}; rerun to retry the failed\\)\\nfetch audioset: 4 clips, 2 on disk, 1 missing on disk \\(status "missing"\\), 1 unavailable \\(status "unavailable"\\)\\n$`,
      ),
    )

    const chunk = path.join(dir, 'balanced_train_segments_0_35000')
    const rows = table(out)
    const byId = (id: string) => rows.find((row) => row.id === id)!
    assert.deepEqual(
      rows.map((row) => [row.id, row.status]),
      [
        ['bbbwebm0030', 'ok'],
        ['gone0000404', 'unavailable'],
        ['smpte000010', 'ok'],
        ['flaky000503', 'missing'],
      ],
    )
    assert.equal(byId('gone0000404').reason, '[generic] None: Unable to download webpage: HTTP Error 404: Not Found')
    assert.match(byId('flaky000503').reason as string, /HTTP Error 503/)
    assert.equal(byId('bbbwebm0030').reason, null)
    assert.equal(byId('bbbwebm0030').path, path.join(chunk, 'aclip', 'bbbwebm0030.p0.mp3'))
    assert.deepEqual(
      byId('bbbwebm0030').frames,
      [1, 2, 3, 4].map((k) => path.join(chunk, 'frame', `bbbwebm0030.p0.4_0${k}.jpg`)),
    )

    // The segment, at the source's own rate: 10 s of 44.1 kHz from the webm, 10 s of 48 kHz from the mp4.
    for (const [id, rate] of [
      ['bbbwebm0030', 44100],
      ['smpte000010', 48000],
    ] as const) {
      const info = await probeMedia(path.join(chunk, 'aclip', `${id}.p0.mp3`))
      const audio = info.streams.find((s) => s.type === 'audio')!
      assert.deepEqual([info.format, audio.sampleRate, audio.channels], ['mp3', rate, 2])
      assert.ok(Math.abs(info.duration! - 10) < 0.06, `${id}: ${info.duration} s`)
    }
    // Frames at start + i (end - start) / 3: the second of [12, 22] is ffmpeg's picture at 15.333 s, not its neighbours'.
    const second = await decodeImage(path.join(chunk, 'frame', 'bbbwebm0030.p0.4_02.jpg'))
    const at = async (t: number) => (await decodeImage(ffmpegFrame(video(VIDEOS.bbbwebm0030), t))).rgb
    assert.ok(maxAbsDiff(second.rgb, await at(12 + 10 / 3)) <= 2)
    assert.ok(maxAbsDiff(second.rgb, await at(12)) > 50)
    assert.ok(maxAbsDiff(second.rgb, await at(12 + 20 / 3)) > 50)
    assert.ok(
      readFileSync(path.join(chunk, 'frame', 'bbbwebm0030.p0.4_04.jpg')).equals(
        readFileSync(ffmpegFrame(video(VIDEOS.bbbwebm0030), 22)),
      ),
    )
    // Nothing half-done is left behind.
    assert.deepEqual(readdirSync(dir).sort(), [
      'balanced_train_segments.csv',
      'balanced_train_segments_0_35000',
      'download-log.jsonl',
      'index.arrow',
    ])

    // Rerun: clips on disk and the known-gone one are not asked for again; the failed one is retried.
    const requests = server.requests.length
    const again = await vipantAsync(['fetch', 'audioset', dir, '--download', '--json', '-o', out], env)
    assert.equal(again.status, 0, again.stderr.toString())
    const report = JSON.parse(again.stdout.toString())
    assert.deepEqual(report.clips, {done: 1, present: 2, unavailable: 1, failed: 0, left: 0, log})
    assert.deepEqual(report.index, {ok: 3, missing: 0, unavailable: 1})
    assert.deepEqual(
      server.requests
        .slice(requests)
        .map((q) => q.path)
        .filter((p, i, all) => all.indexOf(p) === i),
      ['/yt/flaky000503.mp4'],
    )
  },
)

test(
  'fetch audiocaps --download: two clips of one video get their own ids; --limit leaves the rest for later',
  {skip: skipYtDlp},
  async () => {
    const dir = tmp()
    writeFileSync(
      path.join(dir, 'test.csv'),
      'audiocap_id,youtube_id,start_time,caption\n1,chaplin0096,0,a man walks\n2,chaplin0096,5,a man runs\n3,bbbwebm0030,10,a rabbit\n',
    )
    const out = path.join(dir, 'index.arrow')
    const r = await vipantAsync(
      ['fetch', 'audiocaps', dir, '--download', '--limit', '2', '--jobs', '2', '-o', out],
      env,
    )
    assert.equal(r.status, 0, r.stderr.toString())
    assert.match(
      r.stderr.toString(),
      /2 downloaded, 0 already on disk, 0 unavailable, 0 failed, 1 left for a later run \(--limit\)/,
    )
    const rows = table(out)
    assert.deepEqual(
      rows.map((row) => [row.id, row.status, row.start, row.end]),
      [
        ['chaplin0096_0', 'ok', 0, 10],
        ['chaplin0096_5', 'ok', 5, 15],
        ['bbbwebm0030', 'missing', 10, 20],
      ],
    )
    // [5, 15] of a 9.64 s video is [5, 9.64].
    const clipped = await probeMedia(rows[1].path as string)
    assert.ok(Math.abs(clipped.duration! - 4.64) < 0.06, `${clipped.duration} s`)
    assert.ok(existsSync(path.join(dir, 'test_0_35000', 'frame', 'chaplin0096_5.p0.4_01.jpg')))
  },
)

test('fetch audioset --download without yt-dlp says how to install it', async () => {
  const dir = tmp()
  mkdirSync(dir, {recursive: true})
  writeFileSync(
    path.join(dir, 'eval_segments.csv'),
    'YTID,start_seconds,end_seconds,positive_labels\nabc,0,10,/m/09x0r\n',
  )
  const r = await vipantAsync(['fetch', 'audioset', dir, '--download'], {
    VIPANT_YTDLP: path.join(dir, 'no-such-yt-dlp'),
  })
  assert.equal(r.status, 2)
  assert.equal(
    r.stderr.toString(),
    `vipant fetch: ${path.join(dir, 'no-such-yt-dlp')} not found: YouTube-based datasets need yt-dlp (apt-get install yt-dlp, or pip install yt-dlp)\n`,
  )
  assert.equal(r.stdout.length, 0)
})
