import type {Command} from './oclif.js'
import {alternatives, suggest} from './suggest.js'

type ParseError = Error & {flags?: string[]}

const HELP_HINT = /\s*See more help with --help\s*$/

/**
 * oclif's command-line parse errors as one line, as git and cargo print them: the flag a typo probably
 * meant, and where to look, instead of the whole usage. Anything that is not a parse error: undefined.
 */
export function usageError(error: Error, command: Command.Class, id: string): string | undefined {
  const e = error as ParseError
  if (!HELP_HINT.test(e.message)) return undefined
  const name = `vipant ${id}`
  const hint = `see '${name} --help'`
  if (Array.isArray(e.flags) && e.constructor.name === 'NonExistentFlagsError') {
    const known = Object.entries(command.flags ?? {}).flatMap(([flag, def]) => [
      `--${flag}`,
      ...((def as {allowNo?: boolean}).allowNo ? [`--no-${flag}`] : []),
    ])
    const unknown = e.flags.map((f) => f.split('=')[0])
    const guesses = unknown[0].startsWith('--') ? suggest(unknown[0], known) : []
    const what = `unknown flag${unknown.length === 1 ? '' : 's'} ${unknown.join(', ')}`
    const maybe = guesses.length > 0 ? `; did you mean ${alternatives(guesses.slice(0, 3))}?` : ''
    return `${name}: ${what}${maybe} (${hint})`
  }
  const text = e.message
    .replace(HELP_HINT, '')
    .split('\n')
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter(Boolean)
  const choice = /^Expected (?:--[\w-]+=)?(.+) to be one of: (.+)$/.exec(text.join(' '))
  if (choice) {
    const guesses = suggest(choice[1], choice[2].split(', '))
    const maybe = guesses.length > 0 ? `; did you mean ${alternatives(guesses.slice(0, 3))}?` : ''
    return `${name}: ${text.join(' ')}${maybe} (${hint})`
  }
  const parsing = /^Parsing (--[\w-]+)$/.exec(text[0])
  if (parsing && text.length > 1) return `${name}: ${parsing[1]}: ${text.slice(1).join('; ')} (${hint})`
  return `${name}: ${text.join('; ')} (${hint})`
}
