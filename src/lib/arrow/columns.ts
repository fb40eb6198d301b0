import {
  DataType,
  Field,
  Float64,
  Int32,
  List,
  makeData,
  Precision,
  Utf8,
  vectorFromArray,
  type Data,
} from './apache-arrow.js'

/** Plain (non-tensor) column types used across vipant tables; see docs/arrow.md. */
export const utf8 = (name: string) => new Field(name, new Utf8(), true)
export const int32 = (name: string) => new Field(name, new Int32(), true)
export const float64 = (name: string) => new Field(name, new Float64(), true)
export const utf8List = (name: string) => new Field(name, new List(new Field('item', new Utf8(), true)), true)

/**
 * One column's data from JS values (null or undefined for null), typed by its field. The four types above are laid
 * out here directly: apache-arrow's builders, cold, took 60 ms to lay out the index of a folder of 837 clips, most
 * of the time `vipant mel DIR` spent listing it. Any other type goes through the builders.
 */
export function columnData(field: Field, values: readonly unknown[]): Data {
  const type = field.type as DataType
  if (DataType.isUtf8(type)) return utf8Data(type, values as (string | null | undefined)[])
  if (DataType.isInt(type) && type.bitWidth === 32 && type.isSigned)
    return numberData(type, new Int32Array(values.length), values)
  if (DataType.isFloat(type) && type.precision === Precision.DOUBLE)
    return numberData(type, new Float64Array(values.length), values)
  if (DataType.isList(type) && DataType.isUtf8(type.children[0].type)) return utf8ListData(type, values)
  return vectorFromArray(values as unknown[], type).data[0]
}

/** The validity bitmap of `values` (a bit set for each value present) and the count of nulls. */
function validity(values: readonly unknown[]): {nullCount: number; nullBitmap?: Uint8Array} {
  const nullBitmap = new Uint8Array((values.length + 7) >> 3)
  let nullCount = 0
  values.forEach((value, i) => {
    if (value === null || value === undefined) nullCount++
    else nullBitmap[i >> 3] |= 1 << (i & 7)
  })
  return nullCount > 0 ? {nullCount, nullBitmap} : {nullCount}
}

function numberData(type: DataType, data: Int32Array | Float64Array, values: readonly unknown[]): Data {
  values.forEach((value, i) => (data[i] = (value as number | null) ?? 0))
  return makeData({type, length: values.length, data, ...validity(values)} as never)
}

function utf8Data(type: Utf8, values: readonly (string | null | undefined)[]): Data {
  const encoder = new TextEncoder()
  // At most three bytes per UTF-16 code unit.
  const bytes = new Uint8Array(3 * values.reduce((n, value) => n + (value?.length ?? 0), 0))
  const valueOffsets = new Int32Array(values.length + 1)
  let at = 0
  values.forEach((value, i) => {
    if (value !== null && value !== undefined) at += encoder.encodeInto(value, bytes.subarray(at)).written
    valueOffsets[i + 1] = at
  })
  return makeData({type, length: values.length, valueOffsets, data: bytes.subarray(0, at), ...validity(values)})
}

function utf8ListData(type: List<Utf8>, values: readonly unknown[]): Data {
  const lists = values as (readonly string[] | null | undefined)[]
  const valueOffsets = new Int32Array(lists.length + 1)
  lists.forEach((list, i) => (valueOffsets[i + 1] = valueOffsets[i] + (list?.length ?? 0)))
  const child = utf8Data(
    type.children[0].type,
    lists.flatMap((list) => list ?? []),
  )
  return makeData({type, length: lists.length, valueOffsets, child, ...validity(values)} as never)
}
