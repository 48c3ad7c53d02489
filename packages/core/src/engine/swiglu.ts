import type { FloatArray } from './floatArray';

/** SwiGLU gate of the Llama MLP: act = silu(gate) · up, elementwise over n values. */
export function swigluForward(gate: FloatArray, up: FloatArray, act: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    act[i] = (g / (1 + Math.exp(-g))) * up[i];
  }
}

/** dGate = dAct·up·silu'(gate), dUp = dAct·silu(gate); silu'(g) = σ(g)(1 + g(1 − σ(g))). */
export function swigluBackward(
  gate: FloatArray, up: FloatArray, dAct: FloatArray, dGate: FloatArray, dUp: FloatArray, n: number,
): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    const sig = 1 / (1 + Math.exp(-g));
    const silu = g * sig;
    dUp[i] = dAct[i] * silu;
    dGate[i] = dAct[i] * up[i] * sig * (1 + g * (1 - sig));
  }
}
