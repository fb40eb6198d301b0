import {UserError} from '../util/errors.js'

/**
 * OmegaConf's interpolations over a plain config (what `plainConfig` reads from a pickled DictConfig), with the
 * semantics of OmegaConf 2.1/2.2, which VIP-ANT's Hydra runs saved unresolved (docs/checkpoint-config.md):
 * - `${a.b.c}` absolute, `${l.0}` / `${l[0]}` list items, `${.x}` the node's own container, each further dot one
 *   container up; spaces inside the braces are ignored;
 * - a value that is one interpolation takes the target's value and type (a container too, resolved where it lives);
 *   text around or between interpolations makes a string, each part as Python's str() writes it;
 * - interpolations nest (`${a.${k}}`), chain, and `\${` escapes one;
 * - the only resolver is `oc.env:NAME[,default]`; a default becomes a string, `null` stays None;
 * - "???" is OmegaConf's missing value; reading it, a cycle, an unknown key or resolver is an error naming the key.
 * Plain data loses one distinction: a float with an integral value (1.0) reads as an integer, so string
 * interpolation writes "1" where Python writes "1.0".
 */
export type Key = string | number
export const MISSING = '???'

interface Located {
  node: unknown
  at: Key[]
}

export class ConfigResolver {
  /** Paths whose interpolation is being evaluated: meeting one again is a cycle. */
  private readonly active = new Set<string>()

  constructor(
    private readonly root: unknown,
    /** The file, for errors. */
    private readonly source: string,
  ) {}

  /** Whether `path` names a node (following interpolated containers on the way); absent keys are not an error here. */
  has(path: Key[]): boolean {
    try {
      this.locate(path, path)
      return true
    } catch (error) {
      if (error instanceof KeyNotFound) return false
      throw error
    }
  }

  /** The value at `path`, every interpolation in it resolved. */
  get(path: Key[]): unknown {
    try {
      const {node, at} = this.locate(path, path)
      return this.resolve(node, at)
    } catch (error) {
      if (error instanceof KeyNotFound) throw this.error(path, `${error.message}`)
      throw error
    }
  }

  /**
   * The whole config resolved, for reports. A value that does not resolve keeps its text and is listed, so a key
   * nobody needs (a resolver of another tool, a variable of another machine) does not stop the load.
   */
  all(): {value: unknown; unresolved: string[]} {
    const unresolved: string[] = []
    const walk = (node: unknown, at: Key[]): unknown => {
      if (Array.isArray(node)) return node.map((child, i) => walk(child, [...at, i]))
      if (isDict(node))
        return Object.fromEntries(Object.entries(node).map(([k, child]) => [k, walk(child, [...at, k])]))
      try {
        return this.resolve(node, at)
      } catch (error) {
        if (!(error instanceof UserError)) throw error
        unresolved.push(error.message.slice(`${this.source}: `.length))
        return node
      }
    }
    return {value: walk(this.root, []), unresolved}
  }

  /** An error about the value at `path`: one line naming the file and the key. */
  error(path: Key[], problem: string): UserError {
    return new UserError(`${this.source}: cfg key ${dotted(path)}: ${problem}`)
  }

  /** The raw node at `path`, interpolated containers on the way followed to their targets. */
  private locate(path: Key[], asked: Key[]): Located {
    let node = this.root
    let at: Key[] = []
    for (const key of path) {
      if (typeof node === 'string' && node.includes('${')) ({node, at} = this.follow(node, at))
      if (node === MISSING) throw this.error(at, 'missing value (???)')
      if (Array.isArray(node)) {
        const index = typeof key === 'number' ? key : /^\d+$/.test(key) ? Number(key) : NaN
        if (!(index < node.length)) throw new KeyNotFound(`key '${dotted(asked)}' not found`)
        node = node[index]
        at = [...at, index]
      } else if (isDict(node) && Object.hasOwn(node, String(key))) {
        node = node[String(key)]
        at = [...at, String(key)]
      } else {
        throw new KeyNotFound(`key '${dotted(asked)}' not found`)
      }
    }
    return {node, at}
  }

  /** An interpolated container, followed: only a whole-value node interpolation names another node. */
  private follow(text: string, at: Key[]): Located {
    return this.guarded(at, () => {
      const parsed = new Parser(text, this, at).wholeNode()
      if (!parsed) throw this.error(at, `'${text}' is not a container`)
      try {
        return this.locate(parsed, parsed)
      } catch (error) {
        // The key followed exists; where it leads does not, which is an error rather than an absent key.
        if (error instanceof KeyNotFound) throw this.error(at, `interpolation '${text}': ${error.message}`)
        throw error
      }
    })
  }

  /** `node` (found at `at`) with its interpolations resolved; containers deeply. */
  resolve(node: unknown, at: Key[]): unknown {
    if (Array.isArray(node)) return node.map((child, i) => this.resolve(child, [...at, i]))
    if (isDict(node))
      return Object.fromEntries(Object.entries(node).map(([k, child]) => [k, this.resolve(child, [...at, k])]))
    if (node === MISSING) throw this.error(at, 'missing value (???)')
    if (typeof node !== 'string' || !node.includes('${')) return node
    return this.guarded(at, () => new Parser(node, this, at).text())
  }

  private guarded<T>(at: Key[], run: () => T): T {
    const id = JSON.stringify(at)
    if (this.active.has(id)) throw this.error(at, 'recursive interpolation (a cycle)')
    this.active.add(id)
    try {
      return run()
    } finally {
      this.active.delete(id)
    }
  }

  /** The node an interpolation `${key}` written at `at` names (raw; `resolve` gives its value). */
  nodeAt(key: string, at: Key[]): Located {
    const path = targetPath(key, at, () => this.error(at, `interpolation '\${${key}}' climbs above the root`))
    try {
      return this.locate(path, path)
    } catch (error) {
      if (error instanceof KeyNotFound) throw this.error(at, `interpolation '\${${key}}': ${error.message}`)
      throw error
    }
  }

  /** `${name:args}` written at `at`. */
  resolverValue(name: string, args: unknown[], at: Key[]): unknown {
    if (name !== 'oc.env') throw this.error(at, `unsupported resolver '${name}' (vipant knows only oc.env)`)
    if (args.length < 1 || args.length > 2 || typeof args[0] !== 'string') {
      throw this.error(at, 'oc.env takes a variable name and an optional default')
    }
    const value = process.env[args[0]]
    if (value !== undefined) return value
    if (args.length === 2) return args[1] === null ? null : pyStr(args[1])
    throw this.error(at, `environment variable '${args[0]}' is not set and has no default`)
  }

  parseError(text: string, at: Key[], why: string): UserError {
    return this.error(at, `cannot parse '${text}' (${why})`)
  }
}

class KeyNotFound extends Error {}

/** What an interpolation gave: a node (kept raw until we know how it is used) or a resolver's value. */
type Interpolated = {node: Located} | {value: unknown}
type Part = {literal: string} | Interpolated

/**
 * One interpolated string, evaluated as it is read. Top level: text and `${...}`; inside: a node key (dots,
 * brackets, nested interpolations) or `resolver:arg,...` where an argument is quoted text, an interpolation, a
 * primitive (null, true, false, a number) or plain text, spaces around it trimmed.
 */
class Parser {
  private p = 0

  constructor(
    private readonly s: string,
    private readonly resolver: ConfigResolver,
    private readonly at: Key[],
  ) {}

  private fail(why: string): never {
    throw this.resolver.parseError(this.s, this.at, why)
  }

  /** The whole string: one interpolation keeps its value's type, anything else is a string. */
  text(): unknown {
    const parts: Part[] = []
    let literal = ''
    while (this.p < this.s.length) {
      if (this.s[this.p] === '\\') {
        let run = 0
        while (this.s[this.p + run] === '\\') run++
        const escapes = this.s.startsWith('${', this.p + run)
        literal += '\\'.repeat(escapes ? run >> 1 : run)
        this.p += run
        if (escapes && run % 2 === 1) {
          literal += '${'
          this.p += 2
        }
      } else if (this.s.startsWith('${', this.p)) {
        if (literal) parts.push({literal})
        literal = ''
        parts.push(this.interpolation())
      } else {
        literal += this.s[this.p++]
      }
    }
    if (literal) parts.push({literal})
    if (parts.length === 1 && !('literal' in parts[0])) return this.settle(parts[0])
    return parts.map((part) => this.asText(part)).join('')
  }

  /** The target path when the whole string is one node interpolation, else undefined. */
  wholeNode(): Key[] | undefined {
    if (!this.s.startsWith('${')) return undefined
    this.p = 2
    this.spaces()
    if (this.resolverName() !== undefined) return undefined
    const key = this.nodeKey()
    if (this.p !== this.s.length) return undefined
    return targetPath(key, this.at, () => this.fail('climbs above the root'))
  }

  private settle(part: Interpolated): unknown {
    return 'node' in part ? this.resolver.resolve(part.node.node, part.node.at) : part.value
  }

  /** A part of a longer string: Python's str() of the value; a container shows as written, unresolved. */
  private asText(part: Part): string {
    if ('literal' in part) return part.literal
    if ('node' in part && typeof part.node.node === 'object' && part.node.node !== null) return pyStr(part.node.node)
    return pyStr(this.settle(part))
  }

  /** At `${`: the interpolation, read up to its closing brace. */
  private interpolation(): Interpolated {
    this.p += 2
    this.spaces()
    const name = this.resolverName()
    if (name !== undefined) return {value: this.resolver.resolverValue(name, this.arguments(), this.at)}
    return {node: this.resolver.nodeAt(this.nodeKey(), this.at)}
  }

  private spaces() {
    while (this.s[this.p] === ' ' || this.s[this.p] === '\t') this.p++
  }

  /** `name:` (dotted identifiers then a colon) at the cursor, consumed; else undefined and nothing consumed. */
  private resolverName(): string | undefined {
    const match = /^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*\s*:/.exec(this.s.slice(this.p))
    if (!match) return undefined
    this.p += match[0].length
    return match[0].slice(0, -1).trim()
  }

  /** A node key up to the closing brace, nested interpolations spliced in as text; the brace is consumed. */
  private nodeKey(): string {
    let key = ''
    for (;;) {
      if (this.p >= this.s.length) this.fail('no closing }')
      if (this.s.startsWith('${', this.p)) key += pyStr(this.settle(this.interpolation()))
      else if (this.s[this.p] === '}') {
        this.p++
        return key.trim()
      } else if ('{:,\'"\\'.includes(this.s[this.p])) this.fail(`unexpected ${this.s[this.p]} in a key`)
      else key += this.s[this.p++]
    }
  }

  /** Resolver arguments up to the closing brace, which is consumed. */
  private arguments(): unknown[] {
    const args: unknown[] = []
    this.spaces()
    if (this.s[this.p] === '}') {
      this.p++
      return args
    }
    for (;;) {
      args.push(this.argument())
      if (this.p >= this.s.length) this.fail('no closing }')
      if (this.s[this.p++] === '}') return args
    }
  }

  /** One argument, leaving the cursor on the `,` or `}` after it. */
  private argument(): unknown {
    this.spaces()
    const quote = this.s[this.p]
    if (quote === "'" || quote === '"') {
      this.p++
      let text = ''
      while (this.s[this.p] !== quote) {
        if (this.p >= this.s.length) this.fail('unterminated quote')
        if (this.s[this.p] === '\\' && (this.s[this.p + 1] === quote || this.s[this.p + 1] === '\\')) this.p++
        if (this.s.startsWith('${', this.p)) text += pyStr(this.settle(this.interpolation()))
        else text += this.s[this.p++]
      }
      this.p++
      this.spaces()
      return text
    }
    const parts: Part[] = []
    let literal = ''
    while (this.p < this.s.length && this.s[this.p] !== ',' && this.s[this.p] !== '}') {
      if (this.s.startsWith('${', this.p)) {
        if (literal) parts.push({literal})
        literal = ''
        parts.push(this.interpolation())
      } else if ('{[]\'"'.includes(this.s[this.p])) {
        this.fail(`unsupported ${this.s[this.p]} in a resolver argument`)
      } else {
        literal += this.s[this.p++]
      }
    }
    if (literal.trim()) parts.push({literal: literal.trimEnd()})
    if (parts.length === 1 && !('literal' in parts[0])) return this.settle(parts[0])
    const text = parts.map((part) => this.asText(part)).join('')
    return parts.length === 1 ? primitive(text) : text
  }
}

/** An unquoted resolver argument as OmegaConf's grammar reads it: null, a boolean, a number, else the text. */
function primitive(text: string): unknown {
  const lower = text.toLowerCase()
  if (lower === 'null') return null
  if (lower === 'true' || lower === 'false') return lower === 'true'
  if (/^[+-]?\d+$/.test(text)) return Number(text)
  if (/^[+-]?(\d+\.\d*|\.\d+|\d+)(e[+-]?\d+)?$/i.test(text)) return Number(text)
  return text
}

/** The node an interpolation key names, from the node at `at` (leading dots: relative to its containers). */
function targetPath(key: string, at: Key[], climbs: () => Error): Key[] {
  const dots = /^\.*/.exec(key)![0].length
  const base = dots === 0 ? [] : at.slice(0, at.length - dots)
  if (dots > at.length) throw climbs()
  const rest = key.slice(dots)
  if (rest === '') return base
  const keys: Key[] = []
  for (const part of rest.split('.')) {
    const match = /^([^[\]]*)((\[[^[\]]*\])*)$/.exec(part)
    if (!match) return [...base, ...keys, part]
    if (match[1] !== '') keys.push(match[1])
    for (const index of match[2].match(/\[[^[\]]*\]/g) ?? []) keys.push(index.slice(1, -1))
  }
  return [...base, ...keys]
}

function isDict(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function dotted(path: Key[]): string {
  return path.length === 0 ? '<root>' : path.join('.')
}

/** Python's str() of a config value, as OmegaConf writes one into a string. */
export function pyStr(value: unknown): string {
  return typeof value === 'string' ? value : pyRepr(value)
}

function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None'
  if (typeof value === 'boolean') return value ? 'True' : 'False'
  if (typeof value === 'number') return pyNumber(value)
  if (typeof value === 'string')
    return value.includes("'") && !value.includes('"') ? `"${value}"` : `'${value.replaceAll("'", "\\'")}'`
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`
  if (isDict(value))
    return `{${Object.entries(value)
      .map(([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`)
      .join(', ')}}`
  return String(value)
}

/**
 * An integer as Python prints it, a float as its repr: shortest digits, fixed notation from 1e-4 up to 1e16,
 * exponent otherwise (two digits at least). A number beyond 2^53 came from a pickled float: larger ints unpickle
 * as bigints.
 */
function pyNumber(x: number): string {
  if (Number.isNaN(x)) return 'nan'
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf'
  if (Number.isInteger(x) && Math.abs(x) <= Number.MAX_SAFE_INTEGER) return String(x)
  const abs = Math.abs(x)
  if (abs >= 1e-4 && abs < 1e16) return String(x)
  const [mantissa, exponent] = x.toExponential().split('e')
  const sign = exponent.startsWith('-') ? '-' : '+'
  return `${mantissa}e${sign}${exponent.replace(/^[+-]/, '').padStart(2, '0')}`
}
