import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {constants, deflateRawSync} from 'node:zlib'

/**
 * Hand-built hostile checkpoints: pickles assembled opcode by opcode, zip archives written byte by
 * byte so that each can lie in one field. Shared by the hostile-checkpoint tests and their
 * out-of-process memory and time measurement.
 */

type Bytes = (number | string | Uint8Array | Bytes)[]

/** Flattens opcodes, latin1 text and byte arrays into one buffer. */
export function bytes(...parts: Bytes): Uint8Array {
  const chunks: Uint8Array[] = []
  let loose: number[] = []
  const add = (part: number | string | Uint8Array | Bytes) => {
    if (typeof part === 'number') return void loose.push(part)
    chunks.push(Uint8Array.from(loose))
    loose = []
    if (typeof part === 'string') chunks.push(Buffer.from(part, 'latin1'))
    else if (part instanceof Uint8Array) chunks.push(part)
    else for (const p of part) add(p)
  }
  for (const p of parts) add(p)
  chunks.push(Uint8Array.from(loose))
  return new Uint8Array(Buffer.concat(chunks))
}

const le = (n: number, width: number) => {
  const b = Buffer.alloc(width)
  if (width === 8) b.writeBigUInt64LE(BigInt(n))
  else b.writeUIntLE(n, 0, width)
  return b
}

/** Pickle opcodes, protocol 2 (what torch.save writes). */
export const op = {
  proto: [0x80, 2],
  str: (s: string) => [0x58, le(Buffer.byteLength(s), 4), Buffer.from(s)],
  int: (n: number) => [0x4a, Buffer.from(Int32Array.of(n).buffer)],
  global: (module: string, name: string) => `c${module}\n${name}\n`,
  emptyDict: 0x7d,
  emptyList: 0x5d,
  emptyTuple: 0x29,
  mark: 0x28,
  tuple: 0x74,
  setItem: 0x73,
  append: 0x61,
  appends: 0x65,
  reduce: 0x52,
  persid: 0x51,
  none: 0x4e,
  pop: 0x30,
  false: 0x89,
  stop: 0x2e,
  binput: (i: number) => [0x72, le(i, 4)],
  binget: (i: number) => [0x6a, le(i, 4)],
}

export interface View {
  key: string
  /** The storage's element count as the persistent id states it. */
  numel: number
  size: number[]
  stride: number[]
  offset?: number
  storageType?: string
}

/** A tensor pickled as torch.save does: `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`. */
export function tensor(view: View): Bytes {
  const tuple = (values: number[]) => [op.mark, values.map(op.int), op.tuple]
  return [
    op.global('torch._utils', '_rebuild_tensor_v2'),
    op.mark,
    [
      op.mark,
      op.str('storage'),
      op.global('torch', view.storageType ?? 'FloatStorage'),
      op.str(view.key),
      op.str('cpu'),
      op.int(view.numel),
    ],
    [op.tuple, op.persid],
    op.int(view.offset ?? 0),
    tuple(view.size),
    tuple(view.stride),
    op.false,
    [op.global('collections', 'OrderedDict'), op.emptyTuple, op.reduce],
    op.tuple,
    op.reduce,
  ]
}

/** `{name: value}` for each entry, then STOP. */
export function dictPickle(entries: [string, Bytes][]): Uint8Array {
  return bytes(
    op.proto,
    op.emptyDict,
    entries.map(([name, value]) => [op.str(name), value, op.setItem]),
    op.stop,
  )
}

export interface Member {
  name: string
  data: Uint8Array
  /** Deflate the data, or give the deflated bytes and the size they inflate to. */
  deflate?: boolean | {stream: Uint8Array; size: number}
  /** Raw extra field of the central directory entry. */
  centralExtra?: Uint8Array
}

/** A zip archive and where each member's central directory entry starts, so a test can make one field lie. */
export function zipArchive(members: Member[]): {bytes: Uint8Array; central: number[]} {
  const locals: Uint8Array[] = []
  const centrals: Uint8Array[] = []
  let offset = 0
  for (const {name, data, deflate, centralExtra = new Uint8Array()} of members) {
    const stored = typeof deflate === 'object' ? deflate.stream : deflate ? deflateRawSync(data) : data
    const size = typeof deflate === 'object' ? deflate.size : data.length
    const method = deflate ? 8 : 0
    const fname = Buffer.from(name)
    const local = bytes(
      le(0x04034b50, 4),
      le(20, 2),
      le(0, 2),
      le(method, 2),
      le(0, 4),
      le(0, 4),
      le(stored.length, 4),
      le(size, 4),
      le(fname.length, 2),
      le(0, 2),
      fname,
      stored,
    )
    centrals.push(
      bytes(
        le(0x02014b50, 4),
        le(20, 2),
        le(20, 2),
        le(0, 2),
        le(method, 2),
        le(0, 4),
        le(0, 4),
        le(stored.length, 4),
        le(size, 4),
        le(fname.length, 2),
        le(centralExtra.length, 2),
        le(0, 2),
        le(0, 2),
        le(0, 2),
        le(0, 4),
        le(offset, 4),
        fname,
        centralExtra,
      ),
    )
    locals.push(local)
    offset += local.length
  }
  const central: number[] = []
  let at = offset
  for (const c of centrals) {
    central.push(at)
    at += c.length
  }
  const cdSize = at - offset
  const eocd = bytes(
    le(0x06054b50, 4),
    le(0, 2),
    le(0, 2),
    le(members.length, 2),
    le(members.length, 2),
    le(cdSize, 4),
    le(offset, 4),
    le(0, 2),
  )
  return {bytes: bytes(locals, centrals, eocd), central}
}

/** A torch.save archive: `archive/data.pkl` and one `archive/data/<key>` per storage. */
export function torchZip(
  pickle: Uint8Array,
  storages: Record<string, Uint8Array> = {},
  extra: Member[] = [],
): Uint8Array {
  return zipArchive([
    {name: 'archive/data.pkl', data: pickle},
    ...Object.entries(storages).map(([key, data]) => ({name: `archive/data/${key}`, data})),
    ...extra,
  ]).bytes
}

const floats = (n: number) => new Uint8Array(Float32Array.from({length: n}, (_, i) => i).buffer)

/** A torch archive of one storage of `numel` floats and the given views of it. */
export function viewsZip(numel: number, views: Omit<View, 'key' | 'numel'>[]): Uint8Array {
  return torchZip(dictPickle(views.map((v, i) => [`t${i}`, tensor({key: '0', numel, ...v})])), {'0': floats(numel)})
}

/** A safetensors file from a header object (written as given, lies included) and a data section. */
export function safetensorsFile(header: unknown, data: Uint8Array): Uint8Array {
  const json = Buffer.from(JSON.stringify(header))
  return bytes(le(json.length, 8), json, data)
}

export interface HostileCase {
  what: string
  /** File name and content; the file lands in a test's temp dir. */
  name: string
  make: () => Uint8Array
  /** What the one-line refusal says (after the file's name). */
  message: RegExp
}

/**
 * A deflate stream of `mib` MiB of zeros without deflating them all: one MiB deflated and fully flushed
 * (byte-aligned, no back references) repeats as often as wanted, then an empty final block ends it.
 */
export function zerosStream(mib: number): Uint8Array {
  const block = deflateRawSync(new Uint8Array(1 << 20), {finishFlush: constants.Z_FULL_FLUSH})
  const end = deflateRawSync(new Uint8Array())
  const out = new Uint8Array(block.length * mib + end.length)
  for (let i = 0; i < mib; i++) out.set(block, i * block.length)
  out.set(end, block.length * mib)
  return out
}

const nestedList = (depth: number) =>
  bytes(op.proto, new Array(depth).fill(op.emptyList), new Array(depth - 1).fill(op.append), op.stop)

/** The adversarial pass's findings, one file each: each must be refused, in one line naming the file. */
export const HOSTILE_CASES: HostileCase[] = [
  {
    what: 'a stride-0 view of 1e9 values over a 10-float storage',
    name: 'stride0.pt',
    make: () => viewsZip(10, [{size: [1e9], stride: [0]}]),
    message: /refusing to load: tensor views .* would copy more than 16777216 values/,
  },
  {
    what: 'a stride-0 view [1e6, 1e6]',
    name: 'stride0-2d.pt',
    make: () => viewsZip(10, [{size: [1e6, 1e6], stride: [0, 0]}]),
    message: /refusing to load: tensor views \(the last \[1000000, 1000000\] stride \[0, 0\]/,
  },
  {
    what: 'a view past the end of its storage',
    name: 'past-end.pt',
    make: () => viewsZip(10, [{size: [5], stride: [3], offset: 1}]),
    message: /tensor view \[5\] stride \[3\] offset 1 exceeds storage 0 \(10 values\)/,
  },
  {
    what: 'an overlapping view [5000, 5000] stride [1, 1] over 9999 floats',
    name: 'overlap-view.pt',
    make: () => viewsZip(9999, [{size: [5000, 5000], stride: [1, 1]}]),
    message: /refusing to load: tensor views/,
  },
  {
    what: '3000 partial views of one 10 000-float storage',
    name: 'many-views.pt',
    make: () => viewsZip(10_000, new Array(3000).fill({size: [9999], stride: [1], offset: 1})),
    message: /refusing to load: tensor views/,
  },
  {
    what: 'a 2 MB deflated data.pkl stated as 40 bytes that inflates to 2 GiB',
    name: 'inflate-lie.pt',
    make: () =>
      zipArchive([{name: 'archive/data.pkl', data: new Uint8Array(), deflate: {stream: zerosStream(2048), size: 40}}])
        .bytes,
    message: /corrupt zip \(archive\/data\.pkl does not inflate: .*\b40 bytes/,
  },
  {
    what: 'a 2 MB deflated data.pkl that truly inflates to 2 GiB (1000-fold)',
    name: 'inflate-ratio.pt',
    make: () =>
      zipArchive([
        {name: 'archive/data.pkl', data: new Uint8Array(), deflate: {stream: zerosStream(2048), size: 2 ** 31}},
      ]).bytes,
    message: /refusing to load: archive\/data\.pkl states 2147483648 bytes from \d+ deflated ones \(a zip bomb\?\)/,
  },
  {
    what: 'a 1 MB LONG4 integer',
    name: 'long4.pt',
    make: () => torchZip(bytes(op.proto, 0x8b, le(1 << 20, 4), new Uint8Array(1 << 20).fill(0xa5), op.stop)),
    message: /corrupt pickle \(a 1048576-byte integer \(at most 1024\)/,
  },
  {
    what: 'a list nested 900 000 deep',
    name: 'deep.pt',
    make: () => torchZip(nestedList(900_000)),
    message: /refusing to load: values nested more than 1000 deep/,
  },
  {
    what: 'a 5000-deep chain made by appending memoized lists into each other',
    name: 'deep-memo.pt',
    make: () => {
      const n = 5000
      const lists = Array.from({length: n}, (_, i) => [op.emptyList, op.binput(i), op.pop])
      const links = Array.from({length: n - 1}, (_, i) => [op.binget(i), op.binget(i + 1), op.append, op.pop])
      return torchZip(bytes(op.proto, lists, links, op.binget(0), op.stop))
    },
    message: /refusing to load: values nested more than 1000 deep/,
  },
  {
    what: 'OrderedDict called with 200 000 arguments',
    name: 'many-args.pt',
    make: () =>
      torchZip(
        bytes(
          op.proto,
          op.global('collections', 'OrderedDict'),
          op.mark,
          new Array(200_000).fill(op.none),
          op.tuple,
          op.reduce,
          op.stop,
        ),
      ),
    message: /corrupt pickle \(collections\.OrderedDict called with 200000 arguments/,
  },
  {
    what: 'more than 2 M opcodes, each making an empty dict',
    name: 'steps.pt',
    make: () => torchZip(bytes(op.proto, new Uint8Array(2_000_000).fill(op.emptyDict), op.stop)),
    message: /corrupt pickle \(more than 2000000 steps \(opcodes and copied items\)/,
  },
  {
    what: 'set() of one memoized 100 000-item list, 30 times over',
    name: 'set-copies.pt',
    make: () => {
      const list = [op.emptyList, op.mark, new Uint8Array(100_000).fill(op.none), op.appends, op.binput(0), op.pop]
      const sets = new Array(30).fill([
        op.global('builtins', 'set'),
        op.binget(0),
        0x85 /* TUPLE1 */,
        op.reduce,
        op.pop,
      ])
      return torchZip(bytes(op.proto, list, sets, op.none, op.stop))
    },
    message: /corrupt pickle \(more than 2000000 steps/,
  },
  {
    what: 'a truncated ZIP64 extra field',
    name: 'zip64-extra.pt',
    make: () => {
      const pickle = bytes(op.proto, op.none, op.stop)
      const {bytes: file, central} = zipArchive([
        {name: 'archive/data.pkl', data: pickle, centralExtra: bytes(1, 0, 4, 0, 0, 0, 0, 0)},
      ])
      new DataView(file.buffer).setUint32(central[0] + 24, 0xffffffff, true)
      return file
    },
    message: /corrupt zip \(archive\/data\.pkl: ZIP64 extra field too short\)/,
  },
  {
    what: 'a TorchScript class name that is not a valid regular expression',
    name: 'script-class.pt',
    make: () => {
      const state = [op.emptyDict, op.str('w'), tensor({key: '0', numel: 2, size: [2], stride: [1]}), op.setItem]
      const module = [op.global('__torch__.m', 'Bad[(*'), op.emptyTuple, op.reduce, state, 0x62 /* BUILD */]
      return torchZip(bytes(op.proto, module, op.stop), {'0': floats(2)}, [
        {name: 'archive/code/__torch__/m.py', data: bytes('class Bad[(*(Module):\n')},
        {name: 'archive/constants.pkl', data: bytes(op.proto, op.emptyTuple, op.stop)},
      ])
    },
    message: /a TorchScript __torch__\.m\.Bad\[\(\*, not an OpenAI CLIP model/,
  },
  {
    what: 'safetensors entries without data_offsets',
    name: 'no-offsets.safetensors',
    make: () => safetensorsFile({w: {dtype: 'F32', shape: [2]}}, new Uint8Array(8)),
    message: /tensor w is not \{dtype, shape, data_offsets: \[begin, end\]\}/,
  },
  {
    what: '4000 safetensors entries sharing one 1 MB fp16 range',
    name: 'shared-range.safetensors',
    make: () => {
      const entry = {dtype: 'F16', shape: [1 << 19], data_offsets: [0, 1 << 20]}
      return safetensorsFile(
        Object.fromEntries(Array.from({length: 4000}, (_, i) => [`t${i}`, entry])),
        new Uint8Array(1 << 20),
      )
    },
    message: /starts at byte 0 of the data, not 1048576 \(a gap or an overlap\)/,
  },
  {
    what: 'a safetensors header length of 2^63',
    name: 'header-length.safetensors',
    make: () => bytes(0, 0, 0, 0, 0, 0, 0, 0x80, '{}'),
    message: /not a safetensors file \(header length 92233720368547\d+\)/,
  },
  {
    what: 'BINBYTES stating 4 GB in a 20-byte pickle',
    name: 'binbytes.pt',
    make: () => torchZip(bytes(op.proto, 0x42, le(0xffffffff, 4), 'abc', op.stop)),
    message: /corrupt pickle \(truncated: 4294967295 bytes wanted, 4 left/,
  },
  {
    what: 'BINUNICODE8 stating 2^62 bytes',
    name: 'binunicode8.pt',
    make: () => torchZip(bytes(op.proto, 0x8d, le(2 ** 62, 8), 'abc', op.stop)),
    message: /corrupt pickle \(truncated: 46116860184273\d+ bytes wanted/,
  },
  {
    what: 'BINSTRING with a negative length (which would move the reader backwards forever)',
    name: 'binstring.pt',
    make: () => torchZip(bytes(op.proto, 0x54, le(0xfffffffb, 4), op.stop)),
    message: /corrupt pickle \(negative length -5/,
  },
  {
    what: 'a FRAME longer than the data',
    name: 'frame.pt',
    make: () => torchZip(bytes([0x80, 4], 0x95, le(2 ** 40, 8), op.none, op.stop)),
    message: /corrupt pickle \(frame of 1099511627776 bytes, 2 left/,
  },
  {
    what: 'a memo index never set',
    name: 'memo.pt',
    make: () => torchZip(bytes(op.proto, op.binget(0xffffffff), op.stop)),
    message: /corrupt pickle \(memo 4294967295 unset/,
  },
  {
    what: 'a central directory count its directory cannot hold',
    name: 'cd-count.pt',
    make: () => {
      const file = torchZip(bytes(op.proto, op.none, op.stop))
      new DataView(file.buffer).setUint16(file.length - 12, 0xfffe, true)
      return file
    },
    message: /corrupt zip \(65534 entries cannot fit a \d+-byte central directory\)/,
  },
  {
    what: 'two zip entries over the same bytes',
    name: 'zip-overlap.pt',
    make: () => {
      const pickle = bytes(op.proto, op.none, op.stop)
      const {bytes: file, central} = zipArchive([
        {name: 'archive/data.pkl', data: pickle},
        {name: 'archive/data/0', data: floats(4)},
      ])
      new DataView(file.buffer).setUint32(central[1] + 42, 0, true)
      return file
    },
    message: /corrupt zip \(archive\/data\.pkl overlaps archive\/data\/0\)/,
  },
  {
    what: 'a storage referenced with two sizes',
    name: 'storage-sizes.pt',
    make: () => {
      const views = dictPickle([
        ['a', tensor({key: '0', numel: 4, size: [4], stride: [1]})],
        ['b', tensor({key: '0', numel: 1e6, size: [1e6], stride: [1]})],
      ])
      return torchZip(views, {'0': floats(4)})
    },
    message: /storage 0 is referenced as 4 float32 and as 1000000 float32 values/,
  },
  {
    what: '_rebuild_from_type_v2 rebuilding through itself',
    name: 'from-type.pt',
    make: () => {
      const fromType = op.global('torch._tensor', '_rebuild_from_type_v2')
      return torchZip(
        bytes(op.proto, fromType, op.mark, fromType, op.none, op.emptyTuple, op.tuple, op.reduce, op.stop),
      )
    },
    message: /tensor rebuilt by torch\._tensor\._rebuild_from_type_v2\(\[\]\)/,
  },
]

/** Writes a case's file into `dir` and returns its path. */
export function writeCase(dir: string, c: HostileCase): string {
  const file = path.join(dir, c.name)
  writeFileSync(file, c.make())
  return file
}
