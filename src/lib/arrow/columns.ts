import {Field, Float64, Int32, List, Utf8, vectorFromArray, type Data, type DataType} from './apache-arrow.js'

/** Plain (non-tensor) column types used across vipant tables; see docs/arrow.md. */
export const utf8 = (name: string) => new Field(name, new Utf8(), true)
export const int32 = (name: string) => new Field(name, new Int32(), true)
export const float64 = (name: string) => new Field(name, new Float64(), true)
export const utf8List = (name: string) => new Field(name, new List(new Field('item', new Utf8(), true)), true)

/** One column's data from JS values (null allowed), typed by its field. */
export function columnData(field: Field, values: readonly unknown[]): Data {
  return vectorFromArray(values as unknown[], field.type as DataType).data[0]
}
