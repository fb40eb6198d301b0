import type {Interfaces} from './oclif.js'
import {alternatives, suggest} from './suggest.js'

/**
 * The line for a command that does not exist, in the words the user typed (oclif's own message shows its
 * internal "retreive:foo" id) with, like git and cargo, the commands it probably meant.
 */
export function unknownCommand(config: Interfaces.Config, id: string): string {
  const words = id.split(':')
  const known = new Set([...config.commandIDs, ...config.topics.map((t) => t.name)])
  let depth = 0
  while (depth < words.length - 1 && known.has(words.slice(0, depth + 1).join(':'))) depth++
  const parent = words.slice(0, depth).join(':')
  const siblings = [...known]
    .map((k) => k.split(':'))
    .filter((k) => k.length === depth + 1 && k.slice(0, depth).join(':') === parent)
    .map((k) => k.at(-1)!)
  const typed = words.slice(0, depth + 1).join(' ')
  const guesses = suggest(words[depth], siblings).map((w) => [...words.slice(0, depth), w].join(' '))
  const {bin} = config
  return guesses.length > 0
    ? `${bin}: '${typed}' is not a ${bin} command. Did you mean ${alternatives(guesses.slice(0, 3))}?`
    : `${bin}: '${typed}' is not a ${bin} command. See '${bin} --help'.`
}
