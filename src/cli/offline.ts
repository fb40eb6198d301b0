import {Flags} from './oclif.js'

/** --offline for commands that take --model NAME: known names must be in the cache already. */
export const offlineFlag = Flags.boolean({
  description: 'never download a model named by --model/--clip: it must be in the cache (also VIPANT_OFFLINE=1)',
})

/** Said through the environment, so worker threads, which load the towers themselves, inherit it. */
export function applyOffline(offline: boolean): void {
  if (offline) process.env.VIPANT_OFFLINE = '1'
}
