import {execa} from 'execa'
import {ffmpegBinary, ffprobeBinary} from '../../util/ffmpeg.js'
import {UserError} from '../../util/errors.js'

/** yt-dlp: $VIPANT_YTDLP, else `yt-dlp` on PATH. */
export function ytdlpBinary(): string {
  return process.env.VIPANT_YTDLP || 'yt-dlp'
}

const INSTALL: Record<string, string> = {
  'yt-dlp': 'apt-get install yt-dlp, or pip install yt-dlp',
  ffmpeg: 'apt-get install ffmpeg / brew install ffmpeg',
}

/** Fails at once, saying how to install them, when the programs a YouTube download needs are missing. */
export async function requireYoutubeTools(): Promise<{ytdlp: string}> {
  const needed: [string, string][] = [
    ['yt-dlp', ytdlpBinary()],
    ['ffmpeg', ffmpegBinary()],
    ['ffmpeg', ffprobeBinary()],
  ]
  for (const [name, binary] of needed) {
    const probe = await execa(binary, ['--version'], {reject: false, stdin: 'ignore'})
    if (probe.code === 'ENOENT')
      throw new UserError(`${binary} not found: YouTube-based datasets need ${name} (${INSTALL[name]})`)
  }
  return {ytdlp: ytdlpBinary()}
}
