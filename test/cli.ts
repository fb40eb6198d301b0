import {spawn, spawnSync, type SpawnSyncReturns} from 'node:child_process'
import path from 'node:path'
import {repoRoot} from './helpers.js'

/** The vipant executable as a user runs it. */
export const VIPANT = path.join(repoRoot, 'bin', 'vipant.js')

export function vipant(args: string[], options: {input?: Buffer; env?: NodeJS.ProcessEnv} = {}): SpawnSyncReturns<Buffer> {
  return spawnSync(process.execPath, [VIPANT, ...args], {input: options.input, env: {...process.env, ...options.env}, maxBuffer: 1 << 30})
}

/** A shell pipeline of vipant commands, e.g. `vipant fetch ... | vipant mel`, run through bash. */
export function pipeline(command: string) {
  const cmd = command.replace(/(^|[|;{]\s*)vipant /g, `$1${JSON.stringify(process.execPath)} ${JSON.stringify(VIPANT)} `)
  return spawn('bash', ['-o', 'pipefail', '-c', cmd], {stdio: ['ignore', 'pipe', 'pipe']})
}
