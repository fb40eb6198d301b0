import type {Hook} from '../cli/oclif.js'
import {unknownCommand} from '../cli/unknown-command.js'

/** An unknown command: one line with suggestions, exit 2 (a usage error), instead of oclif's "command x:y not found". */
const hook: Hook<'command_not_found'> = async function (options) {
  process.stderr.write(`${unknownCommand(options.config, options.id)}\n`)
  this.exit(2)
}

export default hook
