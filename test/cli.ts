import {spawn, spawnSync, type SpawnSyncReturns} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {repoRoot} from './helpers.js'

/** The vipant executable as a user runs it. */
export const VIPANT = path.join(repoRoot, 'bin', 'vipant.js')

let home: string | undefined

/** The environment of a spawned command: VIPANT_HOME is this run's own folder unless a test names one, so models and graphs never land in the user's cache. */
function testEnv(env?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (!home) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-home-'))
    process.on('exit', () => rmSync(dir, {recursive: true, force: true}))
    home = dir
  }
  return {...process.env, VIPANT_HOME: home, ...env}
}

export function vipant(
  args: string[],
  options: {input?: Buffer; env?: NodeJS.ProcessEnv} = {},
): SpawnSyncReturns<Buffer> {
  return spawnSync(process.execPath, [VIPANT, ...args], {
    input: options.input,
    env: testEnv(options.env),
    maxBuffer: 1 << 30,
  })
}

/** A shell pipeline of vipant commands, e.g. `vipant fetch ... | vipant mel`, run through bash. */
export function pipeline(command: string) {
  const cmd = command.replace(
    /(^|[|;{]\s*)vipant /g,
    `$1${JSON.stringify(process.execPath)} ${JSON.stringify(VIPANT)} `,
  )
  return spawn('bash', ['-o', 'pipefail', '-c', cmd], {stdio: ['ignore', 'pipe', 'pipe'], env: testEnv()})
}
