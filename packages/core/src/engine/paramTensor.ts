import type { FloatArray } from './floatArray';

/** A tensor as the CPU engine sees it: float32 normally, float64 in gradient checks. */
export interface ParamTensor {
  shape: number[];
  data: FloatArray;
}
