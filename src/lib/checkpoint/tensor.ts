/**
 * A named weight as read from any checkpoint format: float32 values in C order with the shape the
 * reference implementation gives it (PyTorch's `[out, in]` for a Linear weight, not TF's `[in, out]`).
 * Storage dtypes (fp16, bf16) are widened on load; `dtype` records what the file held.
 */
export interface Tensor {
  shape: number[]
  dtype: 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool'
  data: Float32Array
}

export const DTYPE_BYTES: Record<Tensor['dtype'], number> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
}

/** A state dict: parameter name (the reference implementation's) to tensor, in file order. */
export type StateDict = Map<string, Tensor>

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1)
}

export function isTensor(value: unknown): value is Tensor {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Tensor).data instanceof Float32Array &&
    Array.isArray((value as Tensor).shape)
  )
}
