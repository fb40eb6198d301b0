import {Command} from './oclif.js'
import {UserError} from '../lib/util/errors.js'
import {usageError} from './usage-errors.js'

/**
 * What every vipant command shares: a user's mistake (UserError) prints as one line on stderr with a
 * non-zero exit and no stack trace; a closed downstream pipe ends the command quietly.
 */
export abstract class VipantCommand extends Command {
  protected override async catch(error: Error & {exitCode?: number; code?: string}): Promise<unknown> {
    if (error instanceof UserError) {
      if (error.exitCode !== 141) process.stderr.write(`vipant ${this.id?.replaceAll(':', ' ')}: ${error.message}\n`)
      this.exit(error.exitCode)
    }
    if (error.code === 'EPIPE') this.exit(141)
    const usage = usageError(error, this.ctor, this.id?.replaceAll(':', ' ') ?? '')
    if (usage) {
      process.stderr.write(`${usage}\n`)
      this.exit(2)
    }
    return super.catch(error)
  }

  protected get version(): string {
    return this.config.version
  }
}
