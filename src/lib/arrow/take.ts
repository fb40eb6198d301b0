import {
  FixedSizeList,
  Float32,
  List,
  Vector,
  vectorFromArray,
  type Data,
  type DataType,
  type Field,
  type RecordBatch,
} from './apache-arrow.js'
import {sourceBatch} from './stage.js'
import {tensorData, tensorRow, type TensorType} from './tensor.js'

/** The rows at `indices` of a batch, in that order, as a new batch of the same schema. */
export function takeRows(batch: RecordBatch, indices: readonly number[]): RecordBatch {
  return sourceBatch(
    batch.schema,
    batch.schema.fields.map((field, c) => takeColumn(field, batch.getChildAt(c)!, indices)),
  )
}

function takeColumn(field: Field, column: Vector, indices: readonly number[]): Data {
  // Tensor rows are copied as whole typed arrays: going through JS values would cost a call per float.
  if (isTensor(field.type))
    return tensorData(
      field as Field<TensorType>,
      indices.map((i) => tensorRow(column, i)),
    )
  return vectorFromArray(
    indices.map((i) => plain(column.get(i))),
    field.type as DataType,
  ).data[0]
}

function isTensor(type: DataType): boolean {
  return (type instanceof FixedSizeList || type instanceof List) && type.children[0].type instanceof Float32
}

/** A nested value as plain JS arrays: apache-arrow's builders do not read `Vector`s back correctly. */
function plain(value: unknown): unknown {
  return value instanceof Vector ? [...value].map(plain) : value
}
