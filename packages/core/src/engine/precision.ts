import { mapWeightTensors, type LlamaWeights } from '../model/llamaWeights';
import type { Tensor } from '../model/tensor';
import type { LoraAdapter } from '../model/lora';
import type { ParamTensor } from './paramTensor';

const f64 = (t: ParamTensor): ParamTensor => ({ shape: [...t.shape], data: Float64Array.from(t.data) });

/**
 * A float64 copy of the weights. Finite-difference gradient checks run in float64 because
 * float32 rounding (~1e-7 relative) divided by a small step would swamp the difference.
 */
export function weightsAsFloat64(w: LlamaWeights<ParamTensor>): LlamaWeights<ParamTensor> {
  return mapWeightTensors(w, f64);
}

export function loraAsFloat64(a: LoraAdapter<ParamTensor>): LoraAdapter<ParamTensor> {
  const layers = new Map(
    [...a.layers].map(([i, l]) => [i, Object.fromEntries(Object.entries(l).map(([t, p]) => [t, { A: f64(p!.A), B: f64(p!.B) }]))]),
  );
  return { config: a.config, layers };
}

const f32 = (t: ParamTensor): Tensor => ({
  shape: [...t.shape],
  data: t.data instanceof Float32Array ? t.data : Float32Array.from(t.data),
});

/** The weights as plain float32 tensors (shares float32 arrays, converts float64 ones). */
export function weightsAsFloat32(w: LlamaWeights<ParamTensor>): LlamaWeights {
  return mapWeightTensors(w, f32);
}
