import {PyGlobal, PyObject} from './pickle.js'
import {isTensor} from './tensor.js'

/**
 * A pickled configuration as JSON. VIP-ANT saves its run's OmegaConf DictConfig, which unpickles as
 * inert placeholders: a DictConfig/ListConfig keeps its children in `_content`, a value node
 * (AnyNode, IntegerNode, StringNode, ...) its value in `_val`; everything else in their state is
 * OmegaConf bookkeeping (parents, flags, type metadata) and is dropped.
 */
export function plainConfig(value: unknown, ancestors = new Set<unknown>()): unknown {
  // A pickle can build cycles (a dict holding itself); OmegaConf's own cycles run through `_parent`, which is dropped.
  if (ancestors.has(value)) return '<cycle>'
  const inner = (v: unknown) => plainConfig(v, new Set([...ancestors, value]))
  if (value instanceof PyObject) {
    const state = value.state instanceof Map ? value.state : new Map()
    if (/^omegaconf\.(dictconfig\.DictConfig|listconfig\.ListConfig)$/.test(value.className)) return inner(state.get('_content'))
    if (value.className.startsWith('omegaconf.nodes.')) return inner(state.get('_val'))
    return {__class__: value.className}
  }
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), inner(v)]))
  if (Array.isArray(value)) return value.map(inner)
  if (value instanceof Set) return [...value].map(inner)
  if (value instanceof PyGlobal) return value.qualifiedName
  if (isTensor(value)) return {tensor: value.shape}
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Uint8Array) return {bytes: value.length}
  return value
}
