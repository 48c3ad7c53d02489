/** Element types a safetensors file may hold that this project reads and writes. */
export type DType = 'F32' | 'F16' | 'BF16';

/**
 * A dense, row-major float32 tensor. Every tensor in the CPU engine is float32 in memory,
 * whatever dtype it was stored as on disk.
 */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function tensor(shape: number[], data?: Float32Array): Tensor {
  const n = numel(shape);
  if (data && data.length !== n) {
    throw new Error(`tensor: data has ${data.length} elements, shape [${shape.join(', ')}] needs ${n}`);
  }
  return { shape, data: data ?? new Float32Array(n) };
}
