// One AdamW step over a flat parameter buffer, exactly as torch.optim.AdamW (core's AdamW):
//   m ← β1·m + (1 − β1)·g
//   v ← β2·v + (1 − β2)·g²
//   p ← p·(1 − lr·wd) − lr·(m / bc1) / (sqrt(v / bc2) + eps),   bc1 = 1 − β1^t, bc2 = 1 − β2^t
// Everything step-dependent (lr, bc1, bc2, 1 − lr·wd) is computed on the host in float64 and
// rewritten into the uniform before each step. One invocation per element, 64 per workgroup,
// workgroups on a 2-D grid.

struct Hyper {
  n: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  oneMinusBeta1: f32,
  oneMinusBeta2: f32,
  eps: f32,
  // 1 − lr·weightDecay
  decayFactor: f32,
  bc1: f32,
  bc2: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> h: Hyper;
@group(0) @binding(1) var<storage, read_write> P: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> M: array<f32>;
@group(0) @binding(4) var<storage, read_write> Vs: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid.x;
  if (i >= h.n) { return; }
  let g = G[i];
  let m = h.beta1 * M[i] + h.oneMinusBeta1 * g;
  let v = h.beta2 * Vs[i] + h.oneMinusBeta2 * g * g;
  M[i] = m;
  Vs[i] = v;
  P[i] = P[i] * h.decayFactor - (h.lr * (m / h.bc1)) / (sqrt(v / h.bc2) + h.eps);
}
