import {UserError} from '../util/errors.js'
import {PICKLE_LIMITS, type PyDict, PyGlobal, PyObject, preview, unpickle} from './pickle.js'
import {widen} from './safetensors.js'
import {DTYPE_BYTES, isTensor, numel, type StateDict, type Tensor} from './tensor.js'
import {ZipArchive} from './zip.js'

/**
 * PyTorch's zip checkpoints (torch >= 1.6): `<top>/data.pkl` pickles the saved object with each
 * tensor as `_rebuild_tensor_v2(storage, offset, size, stride, ...)` and each storage as a persistent
 * id `('storage', torch.FloatStorage, key, location, numel)` whose bytes are `<top>/data/<key>`.
 * torch.jit.save uses the same container, pickling the module tree as `__torch__.*` objects and adding
 * `<top>/code/` (TorchScript source) and `<top>/constants.pkl`.
 */
export type TorchArchive =
  {kind: 'torch-save'; object: unknown} | {kind: 'torchscript'; rootClass: string; stateDict: StateDict}

const STORAGE_DTYPES: Record<string, Tensor['dtype']> = {
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  DoubleStorage: 'float64',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
}

interface StorageRef {
  key: string
  dtype: Tensor['dtype']
  numel: number
}

/**
 * Values that views may copy out of their storages beyond the storages' own size: 16 M (64 MiB). A
 * stride-0 or overlapping view names more values than its storage holds; PyTorch shares the storage,
 * here each is materialised, so an 800-byte file could otherwise ask for gigabytes.
 */
const MAX_EXTRA_VIEW_VALUES = 1 << 24

/** A tensor whose values are read after unpickling, when every storage it needs is known. */
interface PendingTensor {
  tensor: Tensor
  storage: StorageRef
  offset: number
  stride: number[]
}

export async function loadTorchArchive(file: string): Promise<TorchArchive> {
  const zip = await ZipArchive.open(file)
  try {
    const prefix = topFolder(zip)
    if ((await readText(zip, `${prefix}/byteorder`)) === 'big')
      throw new UserError(`${file}: big-endian checkpoint (not supported)`)
    const pending: PendingTensor[] = []
    const source = `${file} (${prefix}/data.pkl)`
    const object = unpickle(await zip.read(`${prefix}/data.pkl`), {
      source,
      persistentLoad: (pid) => storageRef(pid, source),
      constructors: torchConstructors(pending, source),
    })
    await fillTensors(zip, prefix, pending)
    const isScript =
      zip.entries.has(`${prefix}/constants.pkl`) || [...zip.entries.keys()].some((n) => n.startsWith(`${prefix}/code/`))
    if (!isScript) return {kind: 'torch-save', object}
    if (!(object instanceof PyObject))
      throw new UserError(`${file}: a TorchScript archive whose data.pkl is not a module`)
    return {kind: 'torchscript', rootClass: object.className, stateDict: await scriptStateDict(zip, prefix, object)}
  } finally {
    await zip.close()
  }
}

function topFolder(zip: ZipArchive): string {
  const pickles = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n))
  if (pickles.length !== 1) {
    throw new UserError(
      `${zip.file}: a zip archive but not a PyTorch checkpoint (${pickles.length === 0 ? 'no <folder>/data.pkl' : 'several top folders with a data.pkl'})`,
    )
  }
  return pickles[0].slice(0, -'/data.pkl'.length)
}

async function readText(zip: ZipArchive, name: string): Promise<string | undefined> {
  return zip.entries.has(name) ? new TextDecoder().decode(await zip.read(name)).trim() : undefined
}

function storageRef(pid: unknown, source: string): StorageRef {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || !(pid[1] instanceof PyGlobal)) {
    throw new UserError(`${source}: unknown persistent id ${preview(pid)}`)
  }
  const [, type, key, , count] = pid as [string, PyGlobal, unknown, string, unknown]
  const dtype = type.module === 'torch' ? STORAGE_DTYPES[type.name] : undefined
  if (!dtype) throw new UserError(`${source}: unsupported storage type ${type.qualifiedName}`)
  if (
    !(typeof key === 'string' || Number.isSafeInteger(key)) ||
    !Number.isSafeInteger(count) ||
    (count as number) < 0
  ) {
    throw new UserError(`${source}: malformed storage reference ${preview(pid)}`)
  }
  return {key: String(key), dtype, numel: count as number}
}

/** The allowlisted torch callables, reimplemented: they only assemble tensors and containers. */
function torchConstructors(pending: PendingTensor[], source: string): Record<string, (...args: unknown[]) => unknown> {
  const rebuildTensor = (...args: unknown[]) => {
    const [storage, offset, size, stride] = args as [StorageRef, number, number[], number[]]
    if (!storage || typeof storage.key !== 'string') throw new UserError(`${source}: tensor without a storage`)
    const dims = (v: unknown): v is number[] => Array.isArray(v) && v.every((n) => Number.isInteger(n) && n >= 0)
    if (!Number.isInteger(offset) || !dims(size) || !dims(stride) || size.length !== stride.length) {
      throw new UserError(
        `${source}: malformed tensor (size ${preview(size)}, stride ${preview(stride)}, offset ${preview(offset)})`,
      )
    }
    const tensor: Tensor = {shape: [...size], dtype: storage.dtype, data: new Float32Array(0)}
    pending.push({tensor, storage, offset, stride: [...stride]})
    return tensor
  }
  const identity = (value: unknown) => value
  const constructors: Record<string, (...args: unknown[]) => unknown> = {
    'torch._utils._rebuild_tensor': rebuildTensor,
    'torch._utils._rebuild_tensor_v2': rebuildTensor,
    'torch._utils._rebuild_parameter': identity,
    'torch._utils._rebuild_parameter_with_state': identity,
    'torch.Size': identity,
    'torch.device': identity,
    // TorchScript's typed containers: the value is the list, the tag a type annotation.
    'torch.jit._pickle.build_intlist': identity,
    'torch.jit._pickle.build_doublelist': identity,
    'torch.jit._pickle.build_boollist': identity,
    'torch.jit._pickle.build_tensorlist': identity,
    'torch.jit._pickle.restore_type_tag': identity,
    // Tensor subclasses (torch >= 1.12): rebuild with an allowlisted function, drop the subclass.
    'torch._tensor._rebuild_from_type_v2': (func, _type, args) => {
      // Only a tensor rebuilder, not itself: nesting it in its own arguments would recurse as deep as the file likes.
      const name = func instanceof PyGlobal ? func.qualifiedName : undefined
      const rebuild = name?.startsWith('torch._utils._rebuild_') ? constructors[name] : undefined
      if (!rebuild || !Array.isArray(args) || args.length > PICKLE_LIMITS.constructorArgs) {
        throw new UserError(`${source}: tensor rebuilt by ${preview(func)}(${preview(args)})`)
      }
      return rebuild(...args)
    },
  }
  return constructors
}

async function fillTensors(zip: ZipArchive, prefix: string, pending: PendingTensor[]): Promise<void> {
  const byStorage = new Map<string, PendingTensor[]>()
  for (const p of pending) {
    const group = byStorage.get(p.storage.key)
    if (group) group.push(p)
    else byStorage.set(p.storage.key, [p])
  }
  // Every storage is read (its size checked against the zip entry) before any view is copied out of it.
  const storages = new Map<string, Float32Array>()
  let budget = MAX_EXTRA_VIEW_VALUES
  for (const [key, views] of byStorage) {
    const {dtype, numel: count} = views[0].storage
    const other = views.find((view) => view.storage.dtype !== dtype || view.storage.numel !== count)
    if (other) {
      const {numel: otherCount, dtype: otherDtype} = other.storage
      throw new UserError(
        `${zip.file}: storage ${key} is referenced as ${count} ${dtype} and as ${otherCount} ${otherDtype} values`,
      )
    }
    const raw = await zip.read(`${prefix}/data/${key}`)
    if (raw.length !== count * DTYPE_BYTES[dtype]) {
      throw new UserError(`${zip.file}: storage ${key} has ${raw.length} bytes, expected ${count} ${dtype} values`)
    }
    storages.set(key, widen(raw, dtype))
    budget += count
  }
  for (const view of pending) {
    budget -= copiedValues(storages.get(view.storage.key)!, view, zip.file)
    if (budget < 0) {
      const {tensor, stride, storage} = view
      throw new UserError(
        `${zip.file}: refusing to load: tensor views (the last ${preview(tensor.shape)} stride ${preview(stride)} of storage ${storage.key}) ` +
          `would copy more than ${MAX_EXTRA_VIEW_VALUES} values beyond what the file's storages hold`,
      )
    }
  }
  for (const view of pending) view.tensor.data = gather(storages.get(view.storage.key)!, view)
}

/** How many values a view copies (0 when it is its whole storage, which it shares), once its bounds are checked. */
function copiedValues(values: Float32Array, {tensor, offset, stride, storage}: PendingTensor, file: string): number {
  const {shape} = tensor
  const n = numel(shape)
  if (n === 0) return 0
  const last = offset + shape.reduce((sum, size, i) => sum + (size - 1) * stride[i], 0)
  if (offset < 0 || last >= values.length) {
    const view = `${preview(shape)} stride ${preview(stride)} offset ${offset}`
    throw new UserError(`${file}: tensor view ${view} exceeds storage ${storage.key} (${values.length} values)`)
  }
  return isContiguous(shape, stride) && offset === 0 && n === values.length ? 0 : n
}

function isContiguous(shape: number[], stride: number[]): boolean {
  for (let i = shape.length - 1, expected = 1; i >= 0; expected *= shape[i], i--) {
    if (shape[i] !== 1 && stride[i] !== expected) return false
  }
  return true
}

/** A view's values in C order: `storage[offset + Σ index_i · stride_i]`, as torch.as_strided reads them. */
function gather(values: Float32Array, {tensor, offset, stride}: PendingTensor): Float32Array {
  const {shape} = tensor
  const n = numel(shape)
  if (n === 0) return new Float32Array(0)
  if (isContiguous(shape, stride))
    return offset === 0 && n === values.length ? values : values.slice(offset, offset + n)
  // Size-1 axes move nothing; without them every step below carries past at most one axis on average.
  const axes = shape.flatMap((size, i) => (size === 1 ? [] : [{size, stride: stride[i]}]))
  const out = new Float32Array(n)
  const index = new Array<number>(axes.length).fill(0)
  let at = offset
  for (let i = 0; i < n; i++) {
    out[i] = values[at]
    for (let d = axes.length - 1; d >= 0; d--) {
      if (++index[d] < axes[d].size) {
        at += axes[d].stride
        break
      }
      at -= (axes[d].size - 1) * axes[d].stride
      index[d] = 0
    }
  }
  return out
}

/**
 * What `torch.jit.load(file).state_dict()` returns: each module's parameters and buffers (listed by
 * `__parameters__` / `__buffers__` in its class's TorchScript source), then its submodules', under
 * dotted attribute paths. Other attributes (`training`, plain tensors, ints) are not state.
 */
async function scriptStateDict(zip: ZipArchive, prefix: string, root: PyObject): Promise<StateDict> {
  const sources = new Map<string, Map<string, Set<string>>>()
  const stateNames = async (className: string): Promise<Set<string> | undefined> => {
    const dot = className.lastIndexOf('.')
    const file = `${prefix}/code/${className.slice(0, dot).replaceAll('.', '/')}.py`
    if (!sources.has(file)) sources.set(file, moduleStateNames((await readText(zip, file)) ?? ''))
    return sources.get(file)!.get(className.slice(dot + 1))
  }
  const state: StateDict = new Map()
  const visited = new Set<PyObject>()
  const walk = async (module: PyObject, path: string) => {
    if (!(module.state instanceof Map) || visited.has(module)) return
    visited.add(module)
    const names = await stateNames(module.className)
    for (const [name, value] of module.state as PyDict) {
      if (isTensor(value) && (!names || names.has(name as string))) state.set(`${path}${name}`, value)
      else if (value instanceof PyObject && value.className.startsWith('__torch__.'))
        await walk(value, `${path}${name}.`)
    }
  }
  await walk(root, '')
  return state
}

/**
 * Each `class X(Module):` of a TorchScript source file with the names its `__parameters__` and
 * `__buffers__` lines list, in one pass per file: the class names come from the pickle, so they are
 * looked up, never spliced into a pattern.
 */
function moduleStateNames(source: string): Map<string, Set<string>> {
  const classes = new Map<string, Set<string>>()
  const pattern = /^class ([^(\n]+)\(Module\):\n {2}__parameters__ = \[(.*)\]\n {2}__buffers__ = \[(.*)\]/gm
  for (const [, name, parameters, buffers] of source.matchAll(pattern)) {
    const names = `${parameters},${buffers}`.match(/"[^"]+"/g)?.map((quoted) => quoted.slice(1, -1))
    if (!classes.has(name)) classes.set(name, new Set(names))
  }
  return classes
}
