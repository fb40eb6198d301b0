/**
 * An ONNX graph built in memory and serialised with onnx-proto (the protobufjs classes generated from ONNX's own
 * onnx.proto), so that ONNX Runtime can run vipant's towers without Python or an export step. Opset 17, the first
 * with LayerNormalization.
 */
import onnxProto from 'onnx-proto'
import type {Tensor} from '../checkpoint/tensor.js'

const {onnx} = onnxProto
const {DataType} = onnx.TensorProto
const {AttributeType} = onnx.AttributeProto

const OPSET = 17

/** A value's element type in the graph. */
export type ElemType = 'float32' | 'int32' | 'int64'
const DATA_TYPE: Record<ElemType, number> = {float32: DataType.FLOAT, int32: DataType.INT32, int64: DataType.INT64}

/** A dimension: a size, or a name for one the caller chooses at run time. */
export type Dim = number | string

type Attribute = number | number[]
/** Node attributes; a number is an int unless listed in `floats`. */
interface Attributes {
  [name: string]: Attribute
}

export class Graph {
  private readonly nodes: InstanceType<typeof onnx.NodeProto>[] = []
  private readonly initializers: InstanceType<typeof onnx.TensorProto>[] = []
  private readonly inputs: InstanceType<typeof onnx.ValueInfoProto>[] = []
  private readonly outputs: InstanceType<typeof onnx.ValueInfoProto>[] = []
  private readonly names = new Set<string>()
  private counter = 0

  constructor(readonly name: string) {}

  input(name: string, type: ElemType, dims: Dim[]): string {
    this.inputs.push(valueInfo(this.claim(name), type, dims))
    return name
  }

  output(value: string, type: ElemType, dims: Dim[]): void {
    this.outputs.push(valueInfo(value, type, dims))
  }

  /** A weight (or any constant) stored in the graph; its bytes are the array's, not a copy. */
  constant(name: string, data: Float32Array | Int32Array | BigInt64Array, dims: number[]): string {
    const dataType =
      data instanceof Float32Array ? DataType.FLOAT : data instanceof Int32Array ? DataType.INT32 : DataType.INT64
    const rawData = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    this.initializers.push(onnx.TensorProto.create({name: this.claim(name), dims, dataType, rawData}))
    return name
  }

  /** A checkpoint tensor as a constant, reshaped to `dims` when given (same element count). */
  weight(name: string, t: Tensor, dims: number[] = t.shape): string {
    return this.constant(name, t.data, dims)
  }

  /** A small int64 constant (shapes, axes, indices), named after its values. */
  ints(values: number[]): string {
    const name = `i64[${values.join(',')}]`
    if (this.names.has(name)) return name
    return this.constant(name, BigInt64Array.from(values, BigInt), [values.length])
  }

  scalar(value: number): string {
    const name = `f32(${value})`
    if (this.names.has(name)) return name
    return this.constant(name, Float32Array.of(value), [])
  }

  /** Appends `op(inputs)` and returns its output; `floats` names the attributes that are floats. */
  op(opType: string, inputs: string[], attributes: Attributes = {}, floats: string[] = []): string {
    const output = this.claim(`${opType}_${this.counter++}`)
    const attribute = Object.entries(attributes).map(([name, value]) =>
      attributeProto(name, value, floats.includes(name)),
    )
    this.nodes.push(onnx.NodeProto.create({opType, input: inputs, output: [output], name: output, attribute}))
    return output
  }

  /** The serialised ModelProto. */
  serialise(): Uint8Array {
    const graph = onnx.GraphProto.create({
      name: this.name,
      node: this.nodes,
      initializer: this.initializers,
      input: this.inputs,
      output: this.outputs,
    })
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'vipant',
      graph,
      opsetImport: [onnx.OperatorSetIdProto.create({domain: '', version: OPSET})],
    })
    return onnx.ModelProto.encode(model).finish()
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`graph ${this.name}: ${name} defined twice`)
    this.names.add(name)
    return name
  }
}

function valueInfo(name: string, type: ElemType, dims: Dim[]) {
  const dim = dims.map((d) => (typeof d === 'number' ? {dimValue: d} : {dimParam: d}))
  return onnx.ValueInfoProto.create({name, type: {tensorType: {elemType: DATA_TYPE[type], shape: {dim}}}})
}

function attributeProto(name: string, value: Attribute, isFloat: boolean) {
  if (Array.isArray(value)) return onnx.AttributeProto.create({name, type: AttributeType.INTS, ints: value})
  return isFloat
    ? onnx.AttributeProto.create({name, type: AttributeType.FLOAT, f: value})
    : onnx.AttributeProto.create({name, type: AttributeType.INT, i: value})
}

/** A PyTorch [out, in] matrix as [in, out] for MatMul. */
export function transposed(t: Tensor): Float32Array {
  const [rows, cols] = t.shape
  const out = new Float32Array(rows * cols)
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c]
  return out
}
