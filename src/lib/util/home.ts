import os from 'node:os'
import path from 'node:path'

/** vipant's home: model cache and datasets (`$VIPANT_HOME`, default ~/.cache/vipant). */
export function vipantHome(): string {
  return process.env.VIPANT_HOME ?? path.join(os.homedir(), '.cache', 'vipant')
}

/** Where a dataset lives when no directory is named. */
export function datasetHome(name: string): string {
  return path.join(vipantHome(), 'data', name)
}
