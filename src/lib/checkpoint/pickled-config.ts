import {UserError} from '../util/errors.js'
import {PyGlobal, PyObject} from './pickle.js'
import {isTensor} from './tensor.js'

/**
 * How much config a checkpoint may carry. A pickle can reference one object many times (its memo), so a few hundred
 * bytes can describe a tree of 2^26 leaves ("billion laughs"); OmegaConf configs never share nodes (each node has one
 * parent) and VIP-ANT's has a few hundred values, so anything near these limits is not a real cfg.
 */
export const CONFIG_LIMITS = {values: 100_000, depth: 64}

/**
 * A pickled configuration as plain data (objects, arrays, scalars), interpolations left as their `${...}` text.
 * VIP-ANT saves its run's OmegaConf DictConfig, which unpickles as inert placeholders. OmegaConf 2.0 to 2.2 pickle
 * every node's `__dict__`: a container (DictConfig, ListConfig) keeps its children in `_content` (a dict, a list, or
 * None / "???" / an interpolation string when the container itself is one), a value node (AnyNode, IntegerNode, ...)
 * its value in `_val`; both also carry `_metadata` (types, flags, resolver cache) and `_parent`, which are dropped.
 * Nodes are recognised by those two fields, not by class name, so renamed or newer node classes read the same.
 *
 * Each pickled object is converted once (by identity), so shared references cost nothing; a config that would
 * expand beyond CONFIG_LIMITS, or nests deeper, is refused.
 */
export function plainConfig(value: unknown, source = 'cfg'): unknown {
  const done = new Map<object, {plain: unknown; size: number}>()
  const active = new Set<object>()
  const walk = (v: unknown, depth: number): {plain: unknown; size: number} => {
    if (depth > CONFIG_LIMITS.depth) {
      throw new UserError(`${source}: the cfg nests deeper than ${CONFIG_LIMITS.depth} levels; not a VIP-ANT config`)
    }
    if (typeof v !== 'object' || v === null) return {plain: leaf(v), size: 1}
    const seen = done.get(v)
    if (seen) return seen
    // A pickle can build cycles (a dict holding itself); OmegaConf's own cycles run through `_parent`, which is dropped.
    if (active.has(v)) return {plain: '<cycle>', size: 1}
    active.add(v)
    const children = (items: unknown[]) => {
      let size = 1
      const plain = items.map((item) => {
        const r = walk(item, depth + 1)
        size += r.size
        if (size > CONFIG_LIMITS.values) {
          throw new UserError(
            `${source}: the cfg expands to more than ${CONFIG_LIMITS.values} values (a pickle that shares nodes); not a VIP-ANT config`,
          )
        }
        return r.plain
      })
      return {plain, size}
    }
    let result: {plain: unknown; size: number}
    if (v instanceof PyObject) {
      const state = v.state instanceof Map ? v.state : undefined
      if (state?.has('_content')) result = walk(state.get('_content'), depth + 1)
      else if (state?.has('_val')) result = walk(state.get('_val'), depth + 1)
      else result = {plain: {__class__: v.className}, size: 1}
    } else if (v instanceof Map) {
      const keys = [...v.keys()].map((k) => (typeof k === 'object' && k !== null ? String(leaf(k)) : String(k)))
      const {plain, size} = children([...v.values()])
      result = {plain: Object.fromEntries(keys.map((k, i) => [k, (plain as unknown[])[i]])), size}
    } else if (Array.isArray(v) || v instanceof Set) {
      result = children([...v])
    } else {
      result = {plain: leaf(v), size: 1}
    }
    active.delete(v)
    done.set(v, result)
    return result
  }
  return walk(value, 0).plain
}

function leaf(value: unknown): unknown {
  if (value instanceof PyGlobal) return value.qualifiedName
  if (value instanceof PyObject) return {__class__: value.className}
  if (isTensor(value)) return {tensor: value.shape}
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Uint8Array) return {bytes: value.length}
  return value
}
