/**
 * A named weight as read from any checkpoint format: float32 values in C order with the shape the
 * reference implementation gives it (PyTorch's `[out, in]` for a Linear weight, not TF's `[in, out]`).
 * Storage dtypes (fp16, bf16) are widened on load; `dtype` records what the file held.
 */
export interface Tensor {
  shape: number[]
  dtype: 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'uint8' | 'bool'
  data: Float32Array
}

/** A state dict: parameter name (the reference implementation's) to tensor, in file order. */
export type StateDict = Map<string, Tensor>

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1)
}
