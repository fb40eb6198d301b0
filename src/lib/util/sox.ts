import {spawnSync} from 'node:child_process'
import path from 'node:path'

/** The sox binary: $VIPANT_SOX, else `sox` on PATH. Read on every call so tests can point it elsewhere. */
export function soxBinary(): string {
  return process.env.VIPANT_SOX || 'sox'
}

/** $SOX_OPTS holds default options for every sox run (say `--guard` or `-V4`); vipant's runs take none of them. */
export const SOX_ENV = {SOX_OPTS: ''}

const probed = new Map<string, boolean>()

/**
 * Whether the sox binary reads MP3 (Debian: libsox-fmt-mp3, which decodes with libmad, as torchaudio's sox
 * backend did): `sox -h` lists the formats its build and plugins handle. Asked once per binary and thread,
 * synchronously, because the mel stage records the answer in a table's schema before any clip is read.
 */
export function soxReadsMp3(): boolean {
  const binary = soxBinary()
  let known = probed.get(binary)
  if (known === undefined) {
    const env = {...process.env, ...SOX_ENV}
    const run = spawnSync(binary, ['-h'], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000, env})
    known = run.status === 0 && /^AUDIO FILE FORMATS:.* mp3\b/m.test(run.stdout ?? '')
    probed.set(binary, known)
  }
  return known
}

/**
 * sox's decode of FILE as a float32 WAV on stdout, sample for sample what torchaudio's sox backend returned:
 * both turn libsox's int32 samples into float32 with the same rounding to 24 bits (s32 output divided by
 * 2^31 differs in the last bits). No dither (-D), no effects, the input format found as libsox finds it. An
 * absolute path keeps sox from reading a name as an option ("-x.mp3"), stdin ("-"), a pipe ("|cmd") or a
 * URL; --no-glob keeps "[1].mp3" from being a pattern.
 */
export function soxDecodeArgs(file: string): string[] {
  return ['--no-glob', '-V1', '-D', path.resolve(file), '-t', 'wav', '-e', 'floating-point', '-b', '32', '-']
}
