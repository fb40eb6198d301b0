import {UserError} from '../util/errors.js'

/**
 * A restricted unpickler for what torch.save and torch.jit.save write (pickle protocols 2 to 5).
 *
 * Safety policy. Unpickling in Python calls whatever global the file names; here nothing is ever
 * called. A global is either on a short allowlist of pure data constructors (Python containers here,
 * torch's tensor rebuilders passed in by the caller), which are reimplemented in TypeScript, or it
 * becomes an inert placeholder: a `PyGlobal` that only records its name, and a `PyObject` when the
 * pickle "calls" or instantiates it, recording the arguments and the state BUILD gives it. That is
 * how OmegaConf's DictConfig or TorchScript's `__torch__.*` modules stay readable as plain data. A
 * pickle that names a global from a module whose only use in a pickle is to run code, touch files,
 * processes or the network, or reach arbitrary attributes (os, posix, nt, subprocess, builtins
 * other than containers, runpy, importlib, ...) is refused the moment the name is read, before any
 * REDUCE: a checkpoint has no reason to mention them, so it was crafted to attack Python loaders.
 */

/** A Python global (class or function) named by the pickle; never resolved to anything. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`
  }
}

/** An instance of a class outside the allowlist: its class, constructor arguments and BUILD state. */
export class PyObject {
  state: unknown = undefined
  constructor(
    readonly className: string,
    readonly args: unknown[],
  ) {}
}

/** Python dicts keep insertion order and non-string keys, so they become Maps; tuples and lists arrays. */
export type PyDict = Map<unknown, unknown>

export interface UnpickleOptions {
  /** File (and member) named in errors. */
  source: string
  /** BINPERSID: what the persistent id (torch: a storage reference) stands for. */
  persistentLoad?: (pid: unknown) => unknown
  /** Allowlisted callables beyond the Python containers, by qualified name. */
  constructors?: Record<string, (...args: unknown[]) => unknown>
}

/**
 * Limits that keep a hostile pickle's cost in proportion to its size (docs/checkpoint-limits.md).
 * Every length the pickle states is checked against the bytes left before anything is allocated; these
 * bound what a few bytes can still make: huge integers (BigInt arithmetic on them is superlinear), the
 * work done and values made (steps), and nesting, which recursive consumers (JSON, configs) walk.
 */
export const PICKLE_LIMITS = {
  /** LONG1/LONG4 integers: 8 192 bits, far beyond any counter, seed or hash a checkpoint keeps. */
  longBytes: 1024,
  /**
   * Steps: one per opcode, and one per item an allowlisted constructor copies out of its arguments (a
   * memoized list passed to set() again and again). torch.save spends ~40 per tensor, so 2 M is 50 000
   * tensors (OpenAI's CLIP ViT-L/14 has ~600); 2 M empty dicts, the costliest values, take ~490 MB.
   */
  steps: 2_000_000,
  /** Nesting of the result: CPython's default recursion limit, beyond which Python itself cannot print it. */
  depth: 1000,
  /** Arguments to an allowlisted constructor (torch's tensor rebuilders take 7 at most). */
  constructorArgs: 16,
}

const REFUSED_MODULES = [
  'os',
  'posix',
  'nt',
  'posixpath',
  'ntpath',
  'subprocess',
  'sys',
  'runpy',
  'importlib',
  'imp',
  'shutil',
  'socket',
  'ssl',
  'pty',
  'ctypes',
  'pickle',
  '_pickle',
  'marshal',
  'code',
  'codeop',
  'webbrowser',
  'multiprocessing',
  'asyncio',
  'signal',
  'pathlib',
  'tempfile',
  'io',
  '_io',
  'operator',
  'functools',
  'types',
  'inspect',
  'commands',
  'popen2',
  'platform',
  'http',
  'urllib',
  'ftplib',
  'smtplib',
  'requests',
  'timeit',
  'pdb',
  'bdb',
  'trace',
  'profile',
  'cProfile',
  'threading',
  '_thread',
  'glob',
  'zipimport',
  'pkgutil',
  'numpy.testing',
  'torch.hub',
  'torch.ops',
  'torch._C',
  'torch.classes',
]
/**
 * From builtins only data types are safe to mention; eval, exec, getattr, __import__, open... are not.
 * Protocol-2 pickles name some by their Python 2 spelling (`__builtin__.long`, `unicode`).
 */
const SAFE_BUILTINS = new Set([
  'set',
  'frozenset',
  'slice',
  'bytearray',
  'list',
  'tuple',
  'dict',
  'int',
  'long',
  'float',
  'complex',
  'bool',
  'str',
  'unicode',
  'bytes',
  'object',
])

const CONTAINERS: Record<string, (...args: unknown[]) => unknown> = {
  'collections.OrderedDict': (items?: unknown) => {
    const pairs = items === undefined ? [] : items
    if (!Array.isArray(pairs) || !pairs.every((pair) => Array.isArray(pair) && pair.length === 2)) {
      throw new TypeError(`OrderedDict of ${preview(items)}, not (key, value) pairs`)
    }
    return new Map(pairs as [unknown, unknown][])
  },
  // The default factory is a callable, so it is dropped: the items are what a checkpoint holds.
  'collections.defaultdict': () => new Map(),
  'builtins.set': (items?: unknown) => new Set(items === undefined ? [] : (items as Iterable<unknown>)),
  'builtins.frozenset': (items?: unknown) => new Set(items === undefined ? [] : (items as Iterable<unknown>)),
  'builtins.slice': (...args: unknown[]) => ({
    start: args.length > 1 ? args[0] : null,
    stop: args.length > 1 ? args[1] : args[0],
    step: args[2] ?? null,
  }),
  'builtins.bytearray': (data?: unknown) => (data instanceof Uint8Array ? data : new Uint8Array()),
}

function checkGlobal(module: string, name: string, source: string): PyGlobal {
  const refused =
    ((module === 'builtins' || module === '__builtin__') && !SAFE_BUILTINS.has(name)) ||
    REFUSED_MODULES.some((m) => module === m || module.startsWith(`${m}.`))
  const named = `${module}.${name}`.slice(0, 200)
  if (refused)
    throw new UserError(
      `${source}: refusing to load: the pickle names ${named}, which could run code (a malicious or tampered file)`,
    )
  return new PyGlobal(module, name)
}

/** A value for an error line: at most 80 characters and 3 levels, so hostile values can neither flood nor recurse. */
export function preview(value: unknown, depth = 0): string {
  let text: string
  if (typeof value === 'string') text = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value)
  else if (Array.isArray(value) && depth > 2) text = '[...]'
  else if (Array.isArray(value))
    text = `[${value
      .slice(0, 8)
      .map((v) => preview(v, depth + 1))
      .join(', ')}${value.length > 8 ? ', ...' : ''}]`
  else if (value instanceof PyGlobal) text = value.qualifiedName
  else if (value instanceof PyObject) text = `<${value.className}>`
  else if (value instanceof Map) text = `<dict of ${value.size}>`
  else if (typeof value === 'object' && value !== null) text = `<${value.constructor?.name ?? 'object'}>`
  else text = String(value)
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}

export function unpickle(bytes: Uint8Array, options: UnpickleOptions): unknown {
  const {source} = options
  try {
    const value = run(bytes, options)
    checkDepth(value, source)
    return value
  } catch (error) {
    if (error instanceof UserError) throw error
    // A backstop: a value of an unexpected type deep in a constructor must still be one line naming the file.
    throw new UserError(`${source}: corrupt pickle (${(error as Error).message})`)
  }
}

function run(bytes: Uint8Array, options: UnpickleOptions): unknown {
  const {source} = options
  const constructors = {...CONTAINERS, ...options.constructors}
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const utf8 = new TextDecoder('utf-8', {fatal: true})
  const stack: unknown[] = []
  const marks: number[] = []
  const memo = new Map<number, unknown>()
  let p = 0

  const fail = (what: string): never => {
    throw new UserError(`${source}: corrupt pickle (${what} at byte ${p})`)
  }
  const need = (n: number) => {
    if (n < 0) fail(`negative length ${n}`)
    if (n > bytes.length - p) fail(`truncated: ${n} bytes wanted, ${bytes.length - p} left`)
  }
  const u8 = () => (need(1), bytes[p++])
  const u16 = () => (need(2), (p += 2), view.getUint16(p - 2, true))
  const i32 = () => (need(4), (p += 4), view.getInt32(p - 4, true))
  const u32 = () => (need(4), (p += 4), view.getUint32(p - 4, true))
  const u64 = () => (need(8), (p += 8), Number(view.getBigUint64(p - 8, true)))
  const take = (n: number) => (need(n), (p += n), bytes.subarray(p - n, p))
  const line = () => {
    const end = bytes.indexOf(0x0a, p)
    if (end < 0) fail('unterminated line')
    const text = new TextDecoder('latin1').decode(bytes.subarray(p, end))
    p = end + 1
    return text
  }
  const text = (n: number) => {
    const raw = take(n)
    try {
      return utf8.decode(raw)
    } catch {
      return fail('invalid UTF-8')
    }
  }
  const pop = () => (stack.length === 0 ? fail('stack underflow') : stack.pop())
  const top = () => (stack.length === 0 ? fail('stack underflow') : stack[stack.length - 1])
  const popMark = () => {
    const at = marks.pop()
    if (at === undefined) fail('no MARK')
    return stack.splice(at!)
  }
  let steps = 0
  const step = (n: number) => {
    steps += n
    if (steps > PICKLE_LIMITS.steps) fail(`more than ${PICKLE_LIMITS.steps} steps (opcodes and copied items)`)
  }
  const call = (callable: unknown, args: unknown[]) => {
    if (!(callable instanceof PyGlobal)) return fail('call of a non-global')
    const name = (callable as PyGlobal).qualifiedName
    const known = constructors[name]
    if (!known) return new PyObject(name, args)
    if (args.length > PICKLE_LIMITS.constructorArgs) fail(`${name} called with ${args.length} arguments`)
    for (const arg of args)
      step(Array.isArray(arg) ? arg.length : arg instanceof Map || arg instanceof Set ? arg.size : 0)
    return known(...args)
  }
  const setItems = (dict: unknown, items: unknown[]) => {
    if (!(dict instanceof Map)) fail('SETITEMS on a non-dict')
    for (let i = 0; i + 1 < items.length; i += 2) (dict as PyDict).set(items[i], items[i + 1])
  }
  const appendAll = (list: unknown, items: unknown[]) => {
    if (!Array.isArray(list)) fail('APPENDS on a non-list')
    // One push at a time: spreading 200 k items as arguments overflows the call stack.
    for (const item of items) (list as unknown[]).push(item)
  }
  const addAll = (set: unknown, items: unknown[]) => {
    if (!(set instanceof Set)) fail('ADDITEMS on a non-set')
    for (const item of items) (set as Set<unknown>).add(item)
  }
  /** Little-endian two's complement, parsed as one hex string: linear, where shifting in byte by byte is quadratic. */
  const long = (length: number) => {
    if (length > PICKLE_LIMITS.longBytes) fail(`a ${length}-byte integer (at most ${PICKLE_LIMITS.longBytes})`)
    const raw = take(length)
    if (raw.length === 0) return 0
    let value = BigInt(`0x${Buffer.from(raw).reverse().toString('hex')}`)
    if (raw[raw.length - 1] & 0x80) value -= 1n << BigInt(8 * raw.length)
    return Number.isSafeInteger(Number(value)) ? Number(value) : value
  }

  for (;;) {
    step(1)
    const op = u8()
    switch (op) {
      case 0x80: // PROTO
        u8()
        break
      case 0x95: {
        // FRAME: a length hint only, but one longer than the data is a truncated file (as CPython says)
        const length = u64()
        if (length > bytes.length - p) fail(`frame of ${length} bytes, ${bytes.length - p} left`)
        break
      }
      case 0x2e: // STOP
        return pop()
      case 0x63: {
        // GLOBAL
        const module = line()
        stack.push(checkGlobal(module, line(), source))
        break
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop()
        const module = pop()
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL of non-strings')
        stack.push(checkGlobal(module as string, name as string, source))
        break
      }
      case 0x71: // BINPUT
        memo.set(u8(), top())
        break
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top())
        break
      case 0x94: // MEMOIZE
        memo.set(memo.size, top())
        break
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const key = op === 0x68 ? u8() : u32()
        if (!memo.has(key)) fail(`memo ${key} unset`)
        stack.push(memo.get(key))
        break
      }
      case 0x28: // MARK
        marks.push(stack.length)
        break
      case 0x30: // POP
        pop()
        break
      case 0x31: // POP_MARK
        popMark()
        break
      case 0x32: // DUP
        stack.push(top())
        break
      case 0x7d: // EMPTY_DICT
        stack.push(new Map())
        break
      case 0x5d: // EMPTY_LIST
        stack.push([])
        break
      case 0x29: // EMPTY_TUPLE
        stack.push([])
        break
      case 0x8f: // EMPTY_SET
        stack.push(new Set())
        break
      case 0x74: // TUPLE
        stack.push(popMark())
        break
      case 0x85: // TUPLE1
        stack.push([pop()])
        break
      case 0x86: {
        // TUPLE2
        const b = pop()
        stack.push([pop(), b])
        break
      }
      case 0x87: {
        // TUPLE3
        const c = pop()
        const b = pop()
        stack.push([pop(), b, c])
        break
      }
      case 0x6c: // LIST
        stack.push(popMark())
        break
      case 0x64: {
        // DICT
        const dict = new Map()
        setItems(dict, popMark())
        stack.push(dict)
        break
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()))
        break
      case 0x73: {
        // SETITEM
        const value = pop()
        const key = pop()
        setItems(top(), [key, value])
        break
      }
      case 0x75: {
        // SETITEMS
        const items = popMark()
        setItems(top(), items)
        break
      }
      case 0x61: {
        // APPEND
        const item = pop()
        appendAll(top(), [item])
        break
      }
      case 0x65: {
        // APPENDS
        const items = popMark()
        appendAll(top(), items)
        break
      }
      case 0x90: {
        // ADDITEMS
        const items = popMark()
        addAll(top(), items)
        break
      }
      case 0x4a: // BININT
        stack.push(i32())
        break
      case 0x4b: // BININT1
        stack.push(u8())
        break
      case 0x4d: // BININT2
        stack.push(u16())
        break
      case 0x8a: // LONG1
        stack.push(long(u8()))
        break
      case 0x8b: // LONG4
        stack.push(long(u32()))
        break
      case 0x47: // BINFLOAT: big-endian double
        need(8)
        stack.push(view.getFloat64(p, false))
        p += 8
        break
      case 0x58: // BINUNICODE
        stack.push(text(u32()))
        break
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()))
        break
      case 0x8d: // BINUNICODE8
        stack.push(text(u64()))
        break
      case 0x54: // BINSTRING (Python 2 str)
        stack.push(new TextDecoder('latin1').decode(take(i32())))
        break
      case 0x55: // SHORT_BINSTRING
        stack.push(new TextDecoder('latin1').decode(take(u8())))
        break
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice())
        break
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice())
        break
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(take(u64()).slice())
        break
      case 0x4e: // NONE
        stack.push(null)
        break
      case 0x88: // NEWTRUE
        stack.push(true)
        break
      case 0x89: // NEWFALSE
        stack.push(false)
        break
      case 0x52: {
        // REDUCE
        const args = pop()
        if (!Array.isArray(args)) fail('REDUCE arguments are not a tuple')
        stack.push(call(pop(), args as unknown[]))
        break
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args)
        const args = pop()
        if (!Array.isArray(args)) fail('NEWOBJ arguments are not a tuple')
        stack.push(call(pop(), args as unknown[]))
        break
      }
      case 0x92: {
        // NEWOBJ_EX: keyword arguments are recorded after the positional ones
        const kwargs = pop()
        const args = pop()
        if (!Array.isArray(args)) fail('NEWOBJ_EX arguments are not a tuple')
        step((args as unknown[]).length)
        stack.push(call(pop(), [...(args as unknown[]), kwargs]))
        break
      }
      case 0x62: {
        // BUILD: only placeholders keep state; a dict's instance attributes (a state dict's _metadata) are dropped
        const state = pop()
        const target = top()
        if (target instanceof PyObject) target.state = state
        break
      }
      case 0x51: // BINPERSID
        if (!options.persistentLoad) fail('persistent id outside a torch archive')
        stack.push(options.persistentLoad!(pop()))
        break
      default:
        fail(`unsupported opcode 0x${op.toString(16).padStart(2, '0')}`)
    }
  }
}

/** What a value holds, for the nesting walk; undefined for a leaf (numbers, strings, bytes, tensors' data). */
function children(value: unknown): unknown[] | undefined {
  if (Array.isArray(value)) return value
  if (value instanceof Map) return [...value.keys(), ...value.values()]
  if (value instanceof Set) return [...value]
  // The arguments as one child: a tuple shared by many objects is then walked once, not once per object.
  if (value instanceof PyObject) return [value.args, value.state]
  if (typeof value === 'object' && value !== null && !ArrayBuffer.isView(value) && !(value instanceof PyGlobal))
    return Object.values(value)
  return undefined
}

/**
 * Refuses a result nested deeper than PICKLE_LIMITS.depth: the longest path down from it, each shared
 * value measured once (so a "billion laughs" DAG costs its size, not its unfolding), a cycle cut where
 * it closes. Iterative, since the point is to stop a 1 M-deep list before anything recurses into it.
 */
function checkDepth(root: unknown, source: string): void {
  const {depth: limit} = PICKLE_LIMITS
  const refuse = (): never => {
    throw new UserError(`${source}: refusing to load: values nested more than ${limit} deep`)
  }
  const heights = new Map<unknown, number>()
  const path: {value: unknown; kids: unknown[]; next: number; height: number}[] = []
  const enter = (value: unknown) => {
    const kids = children(value)
    if (!kids) return 0
    const known = heights.get(value)
    if (known !== undefined) return known
    if (path.length >= limit) refuse()
    heights.set(value, 0)
    path.push({value, kids, next: 0, height: 1})
    return undefined
  }
  if (enter(root) !== undefined) return
  while (path.length > 0) {
    const frame = path[path.length - 1]
    if (frame.next < frame.kids.length) {
      const height = enter(frame.kids[frame.next++])
      if (height !== undefined) frame.height = Math.max(frame.height, height + 1)
      continue
    }
    if (frame.height > limit) refuse()
    heights.set(frame.value, frame.height)
    path.pop()
    if (path.length > 0) path[path.length - 1].height = Math.max(path[path.length - 1].height, frame.height + 1)
  }
}
