// Causal grouped-query attention (GQA), forward and backward: the WGSL port of attentionForward /
// attentionBackward in packages/core/src/engine/attention.ts, which is the numeric oracle.
//
// Layouts (row-major): q, out, dOut, dq [B*T, nHeads*hd]; k, v, dk, dv [B*T, nKvHeads*hd];
// probs [B, nHeads, T, T]; drow (the caller's scratch) [B, nHeads, T]. Query head h reads kv head
// h / (nHeads/nKvHeads). Scores are (q·k)·scale with scale = 1/sqrt(hd); query t attends to keys
// u in [firstKey(t), t], where firstKey(t) = max(0, t - window + 1) with a sliding window and 0
// without (window == 0).
//
// Entry points, in the order a training step runs them (one invocation per row, 64 per workgroup,
// grid [ceil(T/64), heads, B]):
//   forward           per (b, h, t): scores, stable softmax (row max subtracted), out = P·V.
//                     Writes the whole probs row, zeros outside [firstKey(t), t].
//   rowDot            per (b, h, t): drow = Σ_d dOut·out, which equals rowsum(dP∘P) because
//                     out = P·V (the FlashAttention identity), so dP need not be stored.
//   backwardQuery     per (b, h, t): dq[t] = Σ_u dS[t,u]·k[u], where dS = scale·P∘(dP − drow)
//                     and dP[t,u] = dOut[t]·v[u].
//   backwardKeyValue  per (b, kv head, u), looping over every query head of the group and every
//                     query t that sees u: dv[u] = Σ P[h,t,u]·dOut[h,t], dk[u] = Σ dS[h,t,u]·q[h,t].
// No atomics and no barriers: every output element has exactly one writer. The backward
// OVERWRITES dq, dk and dv (the CPU version accumulates into them).
//
// Why one invocation per row rather than a cooperating workgroup per row: on SwiftShader (the
// CPU WebGPU the tests run on) workgroup barriers dominate (a 64-wide workgroup-per-row version
// with tree reductions ran 2-5x slower), and lanes of one subgroup walk neighbouring rows over the
// same key range, so their k/v loads hit the same cache lines. Per-row accumulators live in
// private arrays of MAX_HD floats, hence headDim <= MAX_HD.

const WG: u32 = 64u;
const MAX_HD: u32 = 256u;
const NEG_BIG: f32 = -3.4028234e38;

struct Dims {
  B: u32,
  T: u32,
  nHeads: u32,
  nKvHeads: u32,
  headDim: u32,
  window: u32, // 0: no sliding window (full causal); the host passes 0 when window >= T
  scale: f32,
  _pad: u32,
}

// Binding numbers name tensors; out, probs and drow are declared twice (writable in the pass that
// produces them, read-only where consumed). No entry point uses both declarations of one binding.
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> outW: array<f32>;
@group(0) @binding(4) var<storage, read> outR: array<f32>;
@group(0) @binding(5) var<storage, read_write> probsW: array<f32>;
@group(0) @binding(5) var<storage, read> probsR: array<f32>;
@group(0) @binding(6) var<storage, read> dOut: array<f32>;
@group(0) @binding(7) var<storage, read_write> drowW: array<f32>;
@group(0) @binding(7) var<storage, read> drowR: array<f32>;
@group(0) @binding(8) var<storage, read_write> dq: array<f32>;
@group(0) @binding(9) var<storage, read_write> dk: array<f32>;
@group(0) @binding(10) var<storage, read_write> dv: array<f32>;

/** First key position query t attends to. */
fn firstKey(t: u32) -> u32 {
  if (dims.window > 0u && t >= dims.window) { return t + 1u - dims.window; }
  return 0u;
}

/** Last query position that attends to key u. */
fn lastQuery(u: u32) -> u32 {
  if (dims.window > 0u) { return min(dims.T - 1u, u + dims.window - 1u); }
  return dims.T - 1u;
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  let h = gid.y;
  let b = gid.z;
  let T = dims.T;
  if (t >= T) { return; }
  let hd = dims.headDim;
  let g = h / (dims.nHeads / dims.nKvHeads);
  let qRow = (b * T + t) * dims.nHeads * hd + h * hd;
  let kvStride = dims.nKvHeads * hd;
  let kvBase = b * T * kvStride + g * hd; // + u * kvStride: row u of this kv head
  let pRow = ((b * dims.nHeads + h) * T + t) * T;
  let lo = firstKey(t);
  for (var u = 0u; u < lo; u++) { probsW[pRow + u] = 0.0; }
  for (var u = t + 1u; u < T; u++) { probsW[pRow + u] = 0.0; }

  // Raw scores into the probs row, then exp(score - max) in place, then normalized in place.
  var row: array<f32, MAX_HD>; // the q row, later the out accumulator
  for (var d = 0u; d < hd; d++) { row[d] = q[qRow + d]; }
  var m = NEG_BIG;
  for (var u = lo; u <= t; u++) {
    let ko = kvBase + u * kvStride;
    var dot = 0.0;
    for (var d = 0u; d < hd; d++) { dot = fma(row[d], k[ko + d], dot); }
    let s = dot * dims.scale;
    probsW[pRow + u] = s;
    m = max(m, s);
  }
  var sum = 0.0;
  for (var u = lo; u <= t; u++) {
    let e = exp(probsW[pRow + u] - m);
    probsW[pRow + u] = e;
    sum += e;
  }
  let inv = 1.0 / sum;
  for (var d = 0u; d < hd; d++) { row[d] = 0.0; }
  for (var u = lo; u <= t; u++) {
    let p = probsW[pRow + u] * inv;
    probsW[pRow + u] = p;
    let vo = kvBase + u * kvStride;
    for (var d = 0u; d < hd; d++) { row[d] = fma(p, v[vo + d], row[d]); }
  }
  for (var d = 0u; d < hd; d++) { outW[qRow + d] = row[d]; }
}

@compute @workgroup_size(WG)
fn rowDot(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  let h = gid.y;
  let b = gid.z;
  if (t >= dims.T) { return; }
  let hd = dims.headDim;
  let row = (b * dims.T + t) * dims.nHeads * hd + h * hd;
  var acc = 0.0;
  for (var d = 0u; d < hd; d++) { acc = fma(dOut[row + d], outR[row + d], acc); }
  drowW[(b * dims.nHeads + h) * dims.T + t] = acc;
}

@compute @workgroup_size(WG)
fn backwardQuery(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  let h = gid.y;
  let b = gid.z;
  let T = dims.T;
  if (t >= T) { return; }
  let hd = dims.headDim;
  let g = h / (dims.nHeads / dims.nKvHeads);
  let qRow = (b * T + t) * dims.nHeads * hd + h * hd;
  let kvStride = dims.nKvHeads * hd;
  let kvBase = b * T * kvStride + g * hd;
  let bh = b * dims.nHeads + h;
  let pRow = (bh * T + t) * T;
  let lo = firstKey(t);
  let D = drowR[bh * T + t];
  var o: array<f32, MAX_HD>;   // dOut[t]
  var acc: array<f32, MAX_HD>; // dq[t]
  for (var d = 0u; d < hd; d++) { o[d] = dOut[qRow + d]; }
  for (var u = lo; u <= t; u++) {
    let ko = kvBase + u * kvStride;
    var dp = 0.0;
    for (var d = 0u; d < hd; d++) { dp = fma(o[d], v[ko + d], dp); }
    let ds = probsR[pRow + u] * (dp - D) * dims.scale;
    for (var d = 0u; d < hd; d++) { acc[d] = fma(ds, k[ko + d], acc[d]); }
  }
  for (var d = 0u; d < hd; d++) { dq[qRow + d] = acc[d]; }
}

@compute @workgroup_size(WG)
fn backwardKeyValue(@builtin(global_invocation_id) gid: vec3<u32>) {
  let u = gid.x;
  let g = gid.y;
  let b = gid.z;
  let T = dims.T;
  if (u >= T) { return; }
  let hd = dims.headDim;
  let group = dims.nHeads / dims.nKvHeads;
  let qStride = dims.nHeads * hd;
  let kvRow = (b * T + u) * dims.nKvHeads * hd + g * hd;
  let tHi = lastQuery(u);
  var vr: array<f32, MAX_HD>;   // v[u]
  var accK: array<f32, MAX_HD>; // dk[u]
  var accV: array<f32, MAX_HD>; // dv[u]
  for (var d = 0u; d < hd; d++) { vr[d] = v[kvRow + d]; }
  for (var h = g * group; h < (g + 1u) * group; h++) {
    let bh = b * dims.nHeads + h;
    for (var t = u; t <= tHi; t++) {
      let off = (b * T + t) * qStride + h * hd; // row t, head h of q and dOut
      let p = probsR[(bh * T + t) * T + u];
      var dp = 0.0;
      for (var d = 0u; d < hd; d++) {
        let o = dOut[off + d];
        dp = fma(o, vr[d], dp);
        accV[d] = fma(p, o, accV[d]);
      }
      let ds = p * (dp - drowR[bh * T + t]) * dims.scale;
      for (var d = 0u; d < hd; d++) { accK[d] = fma(ds, q[off + d], accK[d]); }
    }
  }
  for (var d = 0u; d < hd; d++) {
    dk[kvRow + d] = accK[d];
    dv[kvRow + d] = accV[d];
  }
}
