/**
 * The CPU engine computes in float32 (the precision the WGSL kernels use) or float64 (for
 * finite-difference gradient checks, where float32 rounding would swamp the signal). Every op
 * allocates its outputs with the same element type as its inputs.
 */
export type FloatArray = Float32Array | Float64Array;

export function allocLike(like: FloatArray, n: number): FloatArray {
  return like instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
}
