import {Args} from './oclif.js'

/*
 * Positional arguments that are never taken from stdin. oclif otherwise fills a missing argument with
 * whatever stdin holds after 10 ms, consuming it: with an Arrow table piped in, that races with (and
 * corrupts) the table the command itself reads from stdin.
 */
export const arg = (description: string) => Args.string({description, ignoreStdin: true})

export const requiredArg = (description: string, options?: string[]) =>
  Args.string({description, ignoreStdin: true, required: true, options})
