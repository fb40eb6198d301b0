import {readFileSync} from 'node:fs'
import path from 'node:path'
import {UserError} from '../util/errors.js'
import {vipantHome} from '../util/home.js'

/**
 * Where downloads come from and how patient to be. Read from `$VIPANT_HOME/config.json` (keys below), each
 * overridden by its environment variable, so a mirror or a slow link needs no code change.
 */
export interface NetConfig {
  /** VIPANT_MIRROR: `https://host/path/file` is fetched as `<mirror>/host/path/file` (a full mirror of every source). */
  mirror?: string
  /** VIPANT_YOUTUBE_URL: the page yt-dlp is given for a YouTube id, `{id}` replaced. */
  youtube: string
  /** VIPANT_NET_TIMEOUT (seconds): a connection that sends nothing for this long is dropped and retried. */
  timeoutMs: number
  /** VIPANT_NET_RETRIES: attempts after the first, for errors that may pass (resets, timeouts, 5xx). */
  retries: number
  /** First wait before a retry; it doubles each time, up to 30 s. */
  backoffMs: number
}

const DEFAULTS: NetConfig = {
  youtube: 'https://www.youtube.com/watch?v={id}',
  timeoutMs: 30_000,
  retries: 5,
  backoffMs: 1000,
}

interface ConfigFile {
  mirror?: string
  youtube?: string
  timeout?: number
  retries?: number
}

function readConfigFile(file: string): ConfigFile {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return {}
  }
  try {
    return JSON.parse(text) as ConfigFile
  } catch (error) {
    throw new UserError(`${file}: not JSON (${(error as Error).message})`)
  }
}

function positive(value: string | number | undefined, what: string): number | undefined {
  if (value === undefined || value === '') return undefined
  const n = Number(value)
  if (!Number.isFinite(n) || n < 0) throw new UserError(`${what}: "${value}" is not a non-negative number`)
  return n
}

export function netConfig(env: NodeJS.ProcessEnv = process.env): NetConfig {
  const file = path.join(vipantHome(), 'config.json')
  const fromFile = readConfigFile(file)
  const seconds =
    positive(env.VIPANT_NET_TIMEOUT, 'VIPANT_NET_TIMEOUT') ?? positive(fromFile.timeout, `${file} "timeout"`)
  const youtube = env.VIPANT_YOUTUBE_URL || fromFile.youtube || DEFAULTS.youtube
  if (!youtube.includes('{id}')) throw new UserError(`YouTube URL "${youtube}" has no {id} to replace`)
  return {
    mirror: env.VIPANT_MIRROR || fromFile.mirror || undefined,
    youtube,
    timeoutMs: seconds === undefined ? DEFAULTS.timeoutMs : seconds * 1000,
    retries:
      positive(env.VIPANT_NET_RETRIES, 'VIPANT_NET_RETRIES') ??
      positive(fromFile.retries, `${file} "retries"`) ??
      DEFAULTS.retries,
    backoffMs: DEFAULTS.backoffMs,
  }
}

/** The URL a file is actually fetched from: its own, or its place under the mirror. */
export function sourceUrl(url: string, config: Pick<NetConfig, 'mirror'>): string {
  if (!config.mirror) return url
  const u = new URL(url)
  return `${config.mirror.replace(/\/+$/, '')}/${u.host}${u.pathname}${u.search}`
}

export function youtubeUrl(id: string, config: Pick<NetConfig, 'youtube'>): string {
  return config.youtube.replaceAll('{id}', encodeURIComponent(id))
}
