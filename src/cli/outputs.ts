import {checkOutputPath} from '../lib/util/output-path.js'

/**
 * Checks every output a command was given, by flag name (e.g. {'-o': flags.output, '--plot': flags.plot}), before
 * the command reads or computes anything: a bad path fails in a second with one line, not after the whole run.
 */
export function checkOutputs(outputs: Record<string, string | undefined>): void {
  for (const [flag, file] of Object.entries(outputs)) if (file !== undefined) checkOutputPath(file, flag)
}
