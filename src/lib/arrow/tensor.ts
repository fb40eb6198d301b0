import {
  Field,
  FixedSizeList,
  Float16,
  Float32,
  List,
  makeData,
  Precision,
  Type,
  type Data,
  type Float,
  type Schema,
  type Vector,
  makeVector,
} from './apache-arrow.js'
import {UserError} from '../util/errors.js'
import {fromHalf, toHalf} from './half.js'

/**
 * Tensor columns (docs/arrow.md): a row holds one float32 tensor, flattened row-major.
 * A fully known shape is stored as FixedSizeList<Float32>; a shape whose first axis varies (written -1)
 * as List<Float32>. Either way the field metadata carries `shape` (JSON) so any reader can restore it, and
 * `dtype`: float32, or float16 for a column stored in half precision (`vipant mel --dtype float16`: half the disk),
 * whose rows every reader here gets back as float32 (tensorRow, RowReader.row).
 */
export type TensorShape = readonly number[]

export type TensorType = FixedSizeList<Float32> | List<Float32>

export type TensorDtype = 'float32' | 'float16'

export function tensorField(
  name: string,
  shape: TensorShape,
  metadata: Record<string, string> = {},
  dtype: TensorDtype = 'float32',
): Field<TensorType> {
  if (shape.slice(1).some((d) => d < 1) || !(shape[0] === -1 || shape[0] >= 1)) {
    throw new Error(`tensor ${name}: shape ${JSON.stringify(shape)} may only leave its first axis free (-1)`)
  }
  const item = new Field('item', dtype === 'float16' ? new Float16() : new Float32(), false)
  const type = shape[0] === -1 ? new List(item) : new FixedSizeList(product(shape), item)
  const meta = new Map(Object.entries({...metadata, shape: JSON.stringify(shape), dtype}))
  return new Field(name, type as TensorType, true, meta)
}

/** Whether a column can hold tensors: a fixed-size or variable list of float32 (or float16). */
export function isTensorField(field: Field): boolean {
  const {typeId, children} = field.type
  const item = children?.[0]?.type as Float | undefined
  return (
    (typeId === Type.FixedSizeList || typeId === Type.List) &&
    item?.typeId === Type.Float &&
    (item.precision === Precision.SINGLE || item.precision === Precision.HALF)
  )
}

/** How a tensor column stores its values. */
export function tensorDtype(field: Field): TensorDtype {
  return (field.type.children[0].type as Float).precision === Precision.HALF ? 'float16' : 'float32'
}

/** A tensor's stored values as float32: float16 ones widened (exactly), float32 ones as they are. */
export function float32Values(values: Float32Array | Uint16Array): Float32Array {
  return values instanceof Uint16Array ? fromHalf(values) : values
}

/** Refuses a table whose column `name`, when present, is not a tensor column (a text "mel", say), naming it. */
export function requireTensorColumn(schema: Schema, source: string, name: string): void {
  const field = schema.fields.find((f) => f.name === name)
  if (field && !isTensorField(field))
    throw new UserError(`${source}: column ${name} is ${field.type}, not a float32 tensor column`)
}

export function tensorShape(field: Field): TensorShape {
  const raw = field.metadata.get('shape')
  if (raw === undefined) throw new Error(`column ${field.name} is not a vipant tensor (no shape metadata)`)
  return JSON.parse(raw) as number[]
}

/** The size of one row of a tensor column: the product of the fixed axes. */
export function rowSize(shape: TensorShape): number {
  return product(shape.slice(shape[0] === -1 ? 1 : 0))
}

/** Builds a tensor column from one Float32Array (or null) per row, copying once into a single buffer. */
export function tensorData(field: Field<TensorType>, rows: readonly (Float32Array | null)[]): Data<TensorType> {
  const shape = tensorShape(field)
  const inner = rowSize(shape)
  const total = rows.reduce((n, r) => n + (r?.length ?? (shape[0] === -1 ? 0 : inner)), 0)
  const values = new Float32Array(total)
  const offsets = new Int32Array(rows.length + 1)
  let at = 0
  rows.forEach((row, i) => {
    if (row === null) {
      if (shape[0] !== -1) at += inner
    } else {
      if (row.length % inner !== 0 || (shape[0] !== -1 && row.length !== inner)) {
        throw new Error(`tensor ${field.name}: row ${i} has ${row.length} values, shape ${JSON.stringify(shape)}`)
      }
      values.set(row, at)
      at += row.length
    }
    offsets[i + 1] = at
  })
  return listData(
    field,
    values,
    rows.map((row) => row !== null),
    offsets,
  )
}

/**
 * A fixed-shape tensor column over values already laid out row after row, without copying them (a float16 column
 * still converts); a row not `valid` is null, whatever its values hold.
 */
export function fixedTensorData(
  field: Field<TensorType>,
  values: Float32Array,
  valid: readonly boolean[],
): Data<TensorType> {
  const inner = rowSize(tensorShape(field))
  if (!(field.type instanceof FixedSizeList) || values.length !== valid.length * inner)
    throw new Error(`tensor ${field.name}: ${values.length} values are not ${valid.length} rows of ${inner}`)
  return listData(field, values, valid)
}

function listData(
  field: Field<TensorType>,
  values: Float32Array,
  valid: readonly boolean[],
  offsets?: Int32Array,
): Data<TensorType> {
  const nullBitmap = new Uint8Array((valid.length + 7) >> 3)
  let nullCount = 0
  valid.forEach((ok, i) => {
    if (ok) nullBitmap[i >> 3] |= 1 << (i & 7)
    else nullCount++
  })
  const child =
    tensorDtype(field) === 'float16'
      ? makeData({type: new Float16(), length: values.length, data: toHalf(values)})
      : makeData({type: new Float32(), length: values.length, data: values})
  const common = {
    length: valid.length,
    nullCount,
    nullBitmap: nullCount > 0 ? nullBitmap : undefined,
    child: child as Data<Float32>,
  }
  return (
    field.type instanceof FixedSizeList
      ? makeData({...common, type: field.type})
      : makeData({...common, type: field.type as List<Float32>, valueOffsets: offsets})
  ) as Data<TensorType>
}

export function tensorVector(field: Field<TensorType>, rows: readonly (Float32Array | null)[]): Vector<TensorType> {
  return makeVector(tensorData(field, rows))
}

/** Row i of a tensor column as a zero-copy view (a float32 copy of a float16 column's), or null. */
export function tensorRow(column: Vector, i: number): Float32Array | null {
  const v = column.get(i) as Vector<Float32> | null
  if (v === null) return null
  const data = v.data[0]
  // apache-arrow slices value buffers eagerly: `values` already starts at the row (offset is for bitmaps).
  if (v.data.length === 1) return float32Values((data.values as Float32Array | Uint16Array).subarray(0, data.length))
  return float32Values(v.toArray() as Float32Array | Uint16Array)
}

function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1)
}
