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
  constructor(readonly module: string, readonly name: string) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`
  }
}

/** An instance of a class outside the allowlist: its class, constructor arguments and BUILD state. */
export class PyObject {
  state: unknown = undefined
  constructor(readonly className: string, readonly args: unknown[]) {}
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

const REFUSED_MODULES = [
  'os', 'posix', 'nt', 'posixpath', 'ntpath', 'subprocess', 'sys', 'runpy', 'importlib', 'imp', 'shutil',
  'socket', 'ssl', 'pty', 'ctypes', 'pickle', '_pickle', 'marshal', 'code', 'codeop', 'webbrowser',
  'multiprocessing', 'asyncio', 'signal', 'pathlib', 'tempfile', 'io', '_io', 'operator', 'functools',
  'types', 'inspect', 'commands', 'popen2', 'platform', 'http', 'urllib', 'ftplib', 'smtplib', 'requests',
  'timeit', 'pdb', 'bdb', 'trace', 'profile', 'cProfile', 'threading', '_thread', 'glob', 'zipimport',
  'pkgutil', 'numpy.testing', 'torch.hub', 'torch.ops', 'torch._C', 'torch.classes',
]
/**
 * From builtins only data types are safe to mention; eval, exec, getattr, __import__, open... are not.
 * Protocol-2 pickles name some by their Python 2 spelling (`__builtin__.long`, `unicode`).
 */
const SAFE_BUILTINS = new Set(['set', 'frozenset', 'slice', 'bytearray', 'list', 'tuple', 'dict', 'int', 'long', 'float', 'complex', 'bool', 'str', 'unicode', 'bytes', 'object'])

const CONTAINERS: Record<string, (...args: unknown[]) => unknown> = {
  'collections.OrderedDict': (items?: unknown) => new Map(items === undefined ? [] : (items as Iterable<[unknown, unknown]>)),
  // The default factory is a callable, so it is dropped: the items are what a checkpoint holds.
  'collections.defaultdict': () => new Map(),
  'builtins.set': (items?: unknown) => new Set(items === undefined ? [] : (items as Iterable<unknown>)),
  'builtins.frozenset': (items?: unknown) => new Set(items === undefined ? [] : (items as Iterable<unknown>)),
  'builtins.slice': (...args: unknown[]) => ({start: args.length > 1 ? args[0] : null, stop: args.length > 1 ? args[1] : args[0], step: args[2] ?? null}),
  'builtins.bytearray': (data?: unknown) => (data instanceof Uint8Array ? data : new Uint8Array()),
}

function checkGlobal(module: string, name: string, source: string): PyGlobal {
  const refused =
    ((module === 'builtins' || module === '__builtin__') && !SAFE_BUILTINS.has(name)) ||
    REFUSED_MODULES.some((m) => module === m || module.startsWith(`${m}.`))
  if (refused) throw new UserError(`${source}: refusing to load: the pickle names ${module}.${name}, which could run code (a malicious or tampered file)`)
  return new PyGlobal(module, name)
}

export function unpickle(bytes: Uint8Array, options: UnpickleOptions): unknown {
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
    if (p + n > bytes.length) fail('truncated')
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
  const call = (callable: unknown, args: unknown[]) => {
    if (!(callable instanceof PyGlobal)) return fail('call of a non-global')
    const known = constructors[(callable as PyGlobal).qualifiedName]
    return known ? known(...args) : new PyObject((callable as PyGlobal).qualifiedName, args)
  }
  const setItems = (dict: unknown, items: unknown[]) => {
    if (!(dict instanceof Map)) fail('SETITEMS on a non-dict')
    for (let i = 0; i + 1 < items.length; i += 2) (dict as PyDict).set(items[i], items[i + 1])
  }
  const appendAll = (list: unknown, items: unknown[]) => {
    if (!Array.isArray(list)) fail('APPENDS on a non-list')
    ;(list as unknown[]).push(...items)
  }
  const addAll = (set: unknown, items: unknown[]) => {
    if (!(set instanceof Set)) fail('ADDITEMS on a non-set')
    for (const item of items) (set as Set<unknown>).add(item)
  }
  const long = (raw: Uint8Array) => {
    let value = 0n
    for (let i = raw.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(raw[i])
    if (raw.length > 0 && raw[raw.length - 1] & 0x80) value -= 1n << BigInt(8 * raw.length)
    return Number.isSafeInteger(Number(value)) ? Number(value) : value
  }

  for (;;) {
    const op = u8()
    switch (op) {
      case 0x80: // PROTO
        u8()
        break
      case 0x95: // FRAME: a length hint only
        u64()
        break
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
        stack.push(long(take(u8())))
        break
      case 0x8b: // LONG4
        stack.push(long(take(u32())))
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
