import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {execa} from 'execa'
import {tableFromIPC} from '../src/lib/arrow/apache-arrow.js'
import {decodeAudio, type DecodedAudio} from '../src/lib/audio/decode.js'
import {probeMedia} from '../src/lib/util/ffmpeg.js'
import {readStages} from '../src/lib/arrow/provenance.js'
import {DEFAULT_MEL} from '../src/lib/audio/mel-config.js'
import {melParams} from '../src/lib/data/mel-stage.js'
import {soxReadsMp3} from '../src/lib/util/sox.js'
import {decodeWav, readWavHeader, WAVE_FORMAT_IEEE_FLOAT} from '../src/lib/audio/wav.js'
import {UserError} from '../src/lib/util/errors.js'
import {vipant} from './cli.js'
import {fixture, maxAbsDiff, readF32, sharedData, skipWithoutShared} from './helpers.js'

/** Written by test/reference/decode.py from torchaudio.load (sox backend; libmad for MP3). */
interface Entry {
  file: string
  sample_rate: number
  channels: number
  frames: number
  samples: string
}
interface Stats {
  sample_rate: number
  channels: number
  frames: number
  sum: number
  sum_squares: number
  first: number[]
  last: number[]
}

const manifest = JSON.parse(readFileSync(fixture('decode', 'manifest.json'), 'utf8')) as {wav: Entry[]; mp3: Entry[]}
const shared = JSON.parse(readFileSync(fixture('decode', 'shared.json'), 'utf8')) as {
  wav: Record<string, Stats>
  mp3: Record<string, Stats>
}

/** libmad (fixed point) against ffmpeg's float decoder, once aligned: measured at most 3.4e-6 at 8-48 kHz except 24 kHz. */
const MP3_TOLERANCE = 1e-5
/** Where sox reads MP3 it decodes them, and must match libmad's samples bit for bit. */
const skipWithoutSox = soxReadsMp3() ? false : 'needs sox with MP3 support (apt-get install sox libsox-fmt-mp3)'
/** Points $VIPANT_SOX at nothing, so MP3s take the ffmpeg emulation whether or not sox is installed. */
const NO_SOX = {VIPANT_SOX: '/nonexistent/sox'}
/** Encodings decoded by ffmpeg rather than in-process, and how far ffmpeg's decoder is from sox's. */
const FFMPEG_WAV_TOLERANCE: Record<string, number> = {'mulaw_mono.wav': 0, 'ima_adpcm_stereo.wav': 24 / 32768}

function expected(entry: Entry): Float32Array[] {
  const flat = readF32(fixture('decode', entry.samples))
  return Array.from({length: entry.channels}, (_, c) => flat.subarray(c * entry.frames, (c + 1) * entry.frames))
}

/** Max abs difference over all channels. */
function channelDiff(actual: Float32Array[], reference: Float32Array[]): number {
  assert.equal(actual.length, reference.length, 'channel count')
  return Math.max(...actual.map((a, c) => maxAbsDiff(a, reference[c])))
}

function tempDir(t: {after: (fn: () => void) => void}): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'vipant-decode-'))
  t.after(() => rmSync(dir, {recursive: true, force: true}))
  return dir
}

async function ffmpeg(...args: string[]): Promise<void> {
  await execa('ffmpeg', ['-v', 'error', '-y', ...args])
}

async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]))
  Object.assign(process.env, vars)
  try {
    return await fn()
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
}

/**
 * The float fixtures hold one NaN, which sox turned into -1 and vipant refuses (docs/audio-input.md): the
 * file is checked to be refused, then decoded with that sample set to -1, which sox also maps to -1.
 */
async function decodeFixture(file: string, dir: string): Promise<DecodedAudio> {
  const bytes = readFileSync(fixture('decode', file))
  const header = readWavHeader(bytes, file)
  if (header.formatTag !== WAVE_FORMAT_IEEE_FLOAT) return decodeAudio(fixture('decode', file))
  await assert.rejects(decodeAudio(fixture('decode', file)), {
    message: new RegExp(`^${fixture('decode', file)}: sample \\d+ of channel \\d+ is NaN$`),
  })
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const size = header.bitsPerSample / 8
  for (let o = header.dataOffset; o < header.dataOffset + header.frames * header.channelCount * size; o += size) {
    if (size === 4 && Number.isNaN(view.getFloat32(o, header.littleEndian))) view.setFloat32(o, -1, header.littleEndian)
    if (size === 8 && Number.isNaN(view.getFloat64(o, header.littleEndian))) view.setFloat64(o, -1, header.littleEndian)
  }
  const copy = path.join(dir, file)
  writeFileSync(copy, bytes)
  return decodeAudio(copy)
}

for (const entry of manifest.wav) {
  test(`WAV ${entry.file} matches torchaudio`, async (t) => {
    const audio = await decodeFixture(entry.file, tempDir(t))
    assert.equal(audio.sampleRate, entry.sample_rate)
    assert.equal(audio.channels.length, entry.channels)
    assert.equal(audio.channels[0].length, entry.frames)
    assert.equal(audio.duration, entry.frames / entry.sample_rate)
    const diff = channelDiff(audio.channels, expected(entry))
    assert.ok(diff <= (FFMPEG_WAV_TOLERANCE[entry.file] ?? 0), `max abs diff ${diff}`)
  })
}

for (const entry of manifest.mp3) {
  test(`MP3 ${entry.file} through sox: libmad's samples bit for bit`, {skip: skipWithoutSox}, async (t) => {
    const audio = await decodeAudio(fixture('decode', entry.file))
    assert.equal(audio.mp3Decoder, 'sox+libmad')
    assert.equal(audio.sampleRate, entry.sample_rate)
    assert.equal(audio.channels[0].length, entry.frames, 'length as torchaudio with libmad')
    const diff = channelDiff(audio.channels, expected(entry))
    t.diagnostic(`${entry.file}: ${entry.frames} samples, max abs diff ${diff}`)
    assert.equal(diff, 0)
  })

  test(`MP3 ${entry.file} without sox: ffmpeg laid out as sox, libmad's length and samples within ${MP3_TOLERANCE}`, async (t) => {
    const audio = await withEnv(NO_SOX, () => decodeAudio(fixture('decode', entry.file)))
    assert.equal(audio.mp3Decoder, 'ffmpeg, sox layout')
    assert.equal(audio.sampleRate, entry.sample_rate)
    assert.equal(audio.channels[0].length, entry.frames, 'length as torchaudio with libmad')
    const diff = channelDiff(audio.channels, expected(entry))
    t.diagnostic(`${entry.file}: ${entry.frames} samples, max abs diff ${diff.toExponential(2)}`)
    assert.ok(diff <= MP3_TOLERANCE, `max abs diff ${diff}`)
  })
}

test("MP3 'gapless' is ffmpeg's decode: 1152 + 1105 samples later than sox at 44.1 kHz", async () => {
  const entry = manifest.mp3.find((e) => e.file === 's44k_mono_xing.mp3')!
  const gapless = await decodeAudio(fixture('decode', entry.file), {mp3: 'gapless'})
  assert.equal(gapless.mp3Decoder, undefined)
  const sox = expected(entry)[0]
  // The Info frame (1152) plus LAME's encoder delay and the decoder's (576 + 529), as the LAME tag says.
  const offset = 2257
  assert.equal(gapless.channels[0].length, Math.round(0.5 * 44100))
  const n = Math.min(gapless.channels[0].length, sox.length - offset)
  assert.ok(maxAbsDiff(gapless.channels[0].subarray(0, n), sox.subarray(offset, offset + n)) <= MP3_TOLERANCE)
})

test(
  'sox: names like options, patterns or pipes, no $SOX_OPTS, a wrapped length estimate loses no sample',
  {skip: skipWithoutSox},
  async (t) => {
    const dir = tempDir(t)
    const entry = manifest.mp3.find((e) => e.file === 's44k_mono_vbr.mp3')!
    const bytes = readFileSync(fixture('decode', entry.file))
    for (const name of ['-V4.mp3', '[ab].mp3', '|cat.mp3', 'a b*.MP3']) {
      writeFileSync(path.join(dir, name), bytes)
      const audio = await decodeAudio(path.join(dir, name))
      assert.equal(channelDiff(audio.channels, expected(entry)), 0, name)
    }
    // A user's default sox options would rescale the samples.
    const normalised = await withEnv({SOX_OPTS: '--norm'}, () => decodeAudio(fixture('decode', entry.file)))
    assert.equal(channelDiff(normalised.channels, expected(entry)), 0, 'with SOX_OPTS=--norm')
    // A Xing frame count of 2^32 / 4608 + 3 makes sox's estimate 4 * 1152 * count bytes: its WAV header wraps to 11260 bytes.
    const xing = bytes.indexOf('Xing')
    const wrapped = Buffer.from(bytes)
    wrapped.writeUInt32BE(Math.floor(2 ** 32 / 4608) + 3, xing + 8)
    writeFileSync(path.join(dir, 'wrapped.mp3'), wrapped)
    const decoded = await decodeAudio(path.join(dir, 'wrapped.mp3'))
    const emulated = await withEnv(NO_SOX, () => decodeAudio(path.join(dir, 'wrapped.mp3')))
    // Every frame libmad decodes, as the emulation counts them: 21 frames of 1152, the last one dropped.
    assert.equal(decoded.channels[0].length, 21 * 1152)
    assert.equal(emulated.channels[0].length, 21 * 1152)
    assert.equal(maxAbsDiff(decoded.channels[0].subarray(0, entry.frames), expected(entry)[0]), 0)
  },
)

/** A mono float32 WAV as sox writes one on a pipe. */
function floatWav(rate: number, samples: number[]): Buffer {
  const head = Buffer.alloc(44)
  head.write('RIFF', 0)
  head.writeUInt32LE(36 + 4 * samples.length, 4)
  head.write('WAVEfmt ', 8)
  head.writeUInt32LE(16, 16)
  head.writeUInt16LE(3, 20)
  head.writeUInt16LE(1, 22)
  head.writeUInt32LE(rate, 24)
  head.writeUInt32LE((rate * 4) % 2 ** 32, 28)
  head.writeUInt16LE(4, 32)
  head.writeUInt16LE(32, 34)
  head.write('data', 36)
  head.writeUInt32LE(4 * samples.length, 40)
  return Buffer.concat([head, Buffer.from(new Float32Array(samples).buffer)])
}

test("sox's output gets the checks of any decode: its error, an impossible rate, NaN; a non-MPEG .mp3 goes to ffmpeg", async (t) => {
  const dir = tempDir(t)
  const mp3 = path.join(dir, 'a.mp3')
  writeFileSync(mp3, readFileSync(fixture('decode', 's44k_mono_xing.mp3')))
  // A stand-in sox that lists MP3, then prints OUT (a file, or an error as sox words it) for the file it is given ($4).
  const fakeSox = (name: string, out: Buffer | string) => {
    const file = path.join(dir, name)
    const body = typeof out === 'string' ? `echo "${out}" >&2; exit 2` : `cat ${file}.wav`
    if (typeof out !== 'string') writeFileSync(`${file}.wav`, out)
    writeFileSync(file, `#!/bin/sh\n[ "$1" = -h ] && echo 'AUDIO FILE FORMATS: mp3 wav' && exit 0\n${body}\n`, {
      mode: 0o755,
    })
    return {VIPANT_SOX: file}
  }
  await withEnv(fakeSox('failing', "sox FAIL formats: can't open input file \\`$4': no handler"), async () => {
    await assert.rejects(decodeAudio(mp3), {name: 'UserError', message: `${mp3}: can't open input file: no handler`})
  })
  await withEnv(fakeSox('ghz', floatWav(4294967295, [0.1, 0.2])), async () => {
    await assert.rejects(decodeAudio(mp3), {
      message: `${mp3}: impossible sample rate 4294967295 Hz (vipant reads 1 Hz to 768 kHz)`,
    })
  })
  await withEnv(fakeSox('nan', floatWav(44100, [0.1, Number.NaN, 0.2])), async () => {
    await assert.rejects(decodeAudio(mp3), {
      message: `${mp3}: channel 0 of the decoded audio holds NaN at value 1 of 3`,
    })
  })
  // FLAC named .mp3: no MPEG frame, so ffmpeg decodes it whichever decoder MP3s get.
  const flac = path.join(dir, 'flac.mp3')
  await ffmpeg('-i', fixture('decode', 's16_stereo.wav'), '-f', 'flac', flac)
  const audio = await decodeAudio(flac)
  assert.equal(audio.mp3Decoder, undefined)
  assert.equal(
    channelDiff(audio.channels, decodeWav(readFileSync(fixture('decode', 's16_stereo.wav')), 's16').channels),
    0,
  )
})

test('decodeWav rejects what is not a WAV and corrupt headers, naming the source', () => {
  assert.throws(
    () => decodeWav(new TextEncoder().encode('hello world, not audio'), 'x.wav'),
    (err: Error) => err instanceof UserError && /^x\.wav: not a WAV file/.test(err.message),
  )
  const header = new Uint8Array([...new TextEncoder().encode('RIFF\x20\0\0\0WAVEfmt '), 16, 0, 0, 0, 1, 0])
  assert.throws(() => decodeWav(header, 'short.wav'), {message: 'short.wav: corrupt WAV header (fmt chunk too short)'})
  const noData = readFileSync(fixture('decode', 's16_stereo.wav')).subarray(0, 36)
  assert.throws(() => decodeWav(noData, 'nodata.wav'), /nodata\.wav: corrupt WAV header \(no data chunk\)/)
})

test('flac, ogg/vorbis, m4a/aac and a video soundtrack decode through ffmpeg at the native rate', async (t) => {
  const dir = tempDir(t)
  const wav = fixture('decode', 's16_stereo.wav')
  const pcm = decodeWav(readFileSync(wav), wav)
  for (const [name, codec] of [
    ['a.flac', 'flac'],
    ['a.ogg', 'libvorbis'],
    ['a.m4a', 'aac'],
  ]) {
    const file = path.join(dir, name)
    await ffmpeg('-i', wav, '-c:a', codec, file)
    const audio = await decodeAudio(file)
    assert.equal(audio.sampleRate, 8000, name)
    assert.equal(audio.channels.length, 2, name)
    if (codec === 'flac') assert.equal(channelDiff(audio.channels, pcm.channels), 0, 'flac is lossless')
    // ffmpeg's mp4 muxer trims AAC's priming but not its last frame's padding.
    else assert.ok(Math.abs(audio.channels[0].length - pcm.channels[0].length) <= 1024, `${name} length`)
  }
  const video = path.join(dir, 'v.mp4')
  await ffmpeg(
    '-f',
    'lavfi',
    '-i',
    'testsrc=size=64x48:rate=10:duration=1',
    '-f',
    'lavfi',
    '-i',
    'sine=r=22050:d=1',
    '-ac',
    '3',
    '-c:v',
    'libx264',
    '-c:a',
    'aac',
    '-shortest',
    video,
  )
  const audio = await decodeAudio(video)
  assert.equal(audio.sampleRate, 22050)
  assert.equal(audio.channels.length, 3)
})

test('a file without an audio stream, a corrupt file and a missing file are named in the error', async (t) => {
  const dir = tempDir(t)
  const silent = path.join(dir, 'silent.mp4')
  await ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10:duration=1', '-c:v', 'libx264', silent)
  await assert.rejects(decodeAudio(silent), {name: 'UserError', message: `${silent}: no audio stream`})
  const garbage = path.join(dir, 'broken.mp3')
  writeFileSync(
    garbage,
    new Uint8Array(4000).map((_, i) => (i * 7919) % 251),
  )
  await assert.rejects(
    decodeAudio(garbage),
    (err: Error) => err instanceof UserError && err.message.startsWith(`${garbage}: `),
  )
  const badWav = path.join(dir, 'bad.wav')
  writeFileSync(badWav, readFileSync(fixture('decode', 's16_stereo.wav')).subarray(0, 30))
  await assert.rejects(decodeAudio(badWav), {message: `${badWav}: corrupt WAV header (fmt chunk too short)`})
  await assert.rejects(decodeAudio(path.join(dir, 'nope.wav')), {
    message: `${path.join(dir, 'nope.wav')}: no such file`,
  })
})

test('without ffmpeg: a clear error for ffmpeg formats, WAV still decodes', async (t) => {
  const dir = tempDir(t)
  const flac = path.join(dir, 'a.flac')
  await ffmpeg('-i', fixture('decode', 's16_stereo.wav'), flac)
  const install = /^ffmpeg not found.*: install it \(apt-get install ffmpeg \/ brew install ffmpeg\)$/
  await withEnv({VIPANT_FFMPEG: '/nonexistent/ffmpeg', ...NO_SOX}, async () => {
    await assert.rejects(decodeAudio(flac), {name: 'UserError', message: install})
    await assert.rejects(decodeAudio(fixture('decode', 's16k_mono_xing.mp3')), {message: install})
    assert.equal((await decodeAudio(fixture('decode', 's16_stereo.wav'))).channels.length, 2)
  })
  // sox decodes MP3 on its own.
  if (soxReadsMp3()) {
    await withEnv({VIPANT_FFMPEG: '/nonexistent/ffmpeg'}, async () => {
      assert.equal((await decodeAudio(fixture('decode', 's16k_mono_xing.mp3'))).mp3Decoder, 'sox+libmad')
    })
  }
  await withEnv({PATH: ''}, async () => {
    await assert.rejects(decodeAudio(flac), {message: install})
  })
})

test('probeMedia reports streams and duration', async () => {
  const info = await probeMedia(fixture('decode', 's48k_stereo_xing.mp3'))
  assert.equal(info.format, 'mp3')
  assert.deepEqual(
    info.streams.map((s) => [s.type, s.sampleRate, s.channels]),
    [['audio', 48000, 2]],
  )
  assert.ok(info.duration !== undefined && Math.abs(info.duration - 0.3) < 0.05)
})

function checkStats(rel: string, audio: {sampleRate: number; channels: Float32Array[]}, s: Stats, tolerance: number) {
  assert.equal(audio.sampleRate, s.sample_rate, rel)
  assert.equal(audio.channels.length, s.channels, rel)
  const x = audio.channels[0]
  assert.equal(x.length, s.frames, `${rel} length`)
  let sum = 0
  let squares = 0
  for (const channel of audio.channels) {
    for (const v of channel) {
      sum += v
      squares += v * v
    }
  }
  // numpy sums pairwise, so allow rounding on top of the per-sample tolerance.
  const slack = tolerance * x.length * s.channels
  assert.ok(Math.abs(sum - s.sum) <= 1e-9 + slack, `${rel} sum ${sum} vs ${s.sum}`)
  assert.ok(
    Math.abs(squares - s.sum_squares) <= 1e-12 * s.sum_squares + 2 * slack,
    `${rel} sum of squares ${squares} vs ${s.sum_squares}`,
  )
  assert.ok(maxAbsDiff(x.subarray(0, s.first.length), s.first) <= tolerance, `${rel} first samples`)
  assert.ok(maxAbsDiff(x.subarray(x.length - s.last.length), s.last) <= tolerance, `${rel} last samples`)
}

test('real ESC-50 and US8K WAVs decode identically to torchaudio', {skip: skipWithoutShared}, async () => {
  const entries = Object.entries(shared.wav)
  assert.equal(entries.filter(([rel]) => rel.startsWith('esc50/')).length, 6)
  assert.equal(entries.filter(([rel]) => rel.startsWith('us8k/')).length, 20)
  for (const [rel, s] of entries) checkStats(rel, await decodeAudio(sharedData(rel)), s, 0)
})

test(
  'the real MP3 matches torchaudio with libmad: exactly by sox, within tolerance without',
  {skip: skipWithoutShared},
  async () => {
    for (const [rel, s] of Object.entries(shared.mp3)) {
      if (soxReadsMp3()) checkStats(rel, await decodeAudio(sharedData(rel)), s, 0)
      checkStats(rel, await withEnv(NO_SOX, () => decodeAudio(sharedData(rel))), s, MP3_TOLERANCE)
    }
  },
)

test(
  'a mel table records the MP3 decoder; the ffmpeg fallback is noted once on stderr',
  {timeout: 60_000},
  async (t) => {
    const dir = tempDir(t)
    const clips = ['s44k_mono_xing.mp3', 's48k_stereo_xing.mp3', 's16k_mono_xing.mp3'].map((f) => fixture('decode', f))
    const note = /^note: MP3s are decoded by ffmpeg laid out as sox would, .*apt-get install sox libsox-fmt-mp3\)$/gm
    const decoderOf = (file: string) => readStages(tableFromIPC(readFileSync(file)).schema).at(-1)?.params.mp3_decoder
    const out = path.join(dir, 'fallback.arrow')
    const r = vipant(['mel', ...clips, '--max-len', '20', '--workers', '2', '-o', out], {env: NO_SOX})
    assert.equal(r.status, 0, r.stderr.toString())
    assert.equal(r.stderr.toString().match(note)?.length, 1, r.stderr.toString())
    assert.equal(decoderOf(out), 'ffmpeg, sox layout')
    assert.equal(await withEnv(NO_SOX, async () => melParams(DEFAULT_MEL).mp3_decoder), 'ffmpeg, sox layout')
    if (!soxReadsMp3()) return
    const sox = vipant(['mel', ...clips, '--max-len', '20', '--workers', '2', '-o', path.join(dir, 'sox.arrow')])
    assert.equal(sox.status, 0, sox.stderr.toString())
    assert.doesNotMatch(sox.stderr.toString(), note)
    assert.equal(decoderOf(path.join(dir, 'sox.arrow')), 'sox+libmad')
  },
)

test(
  'real videos: the first audio stream at its native rate and channel count',
  {skip: skipWithoutShared},
  async () => {
    for (const name of readdirSync(sharedData('video'))) {
      const file = sharedData('video', name)
      const stream = (await probeMedia(file)).streams.find((s) => s.type === 'audio')!
      const audio = await decodeAudio(file)
      assert.equal(audio.sampleRate, stream.sampleRate, name)
      assert.equal(audio.channels.length, stream.channels, name)
      if (stream.duration)
        assert.ok(
          Math.abs(audio.duration - stream.duration) < 0.1,
          `${name}: ${audio.duration} s vs ${stream.duration} s`,
        )
    }
  },
)
