// Causal grouped-query attention (GQA), forward and backward: the WGSL port of attentionForward /
// attentionBackward in packages/core/src/engine/attention.ts, which is the numeric oracle.
//
// Layouts (row-major): q, out, dOut, dq [B*T, nHeads*hd]; k, v, dk, dv [B*T, nKvHeads*hd];
// probs [B, nHeads, T, T]; drow [B, nHeads, T]. Query head h reads kv head h / (nHeads/nKvHeads).
// Scores are scale·q·k with scale = 1/sqrt(hd); position t attends to u in [lo(t), t], where
// lo(t) = max(0, t - window + 1) with a sliding window and 0 without (window == 0).
//
// Entry points, in the order a training step runs them:
//   forward           one workgroup per (t, h, b): scores, stable softmax (max subtracted), out = P·V.
//                     Writes every entry of its probs row (zeros outside [lo, t]).
//   rowDot            one invocation per (b, h, t): drow = Σ_d dOut·out, which equals
//                     rowsum(dP∘P) because out = P·V (the FlashAttention identity).
//   backwardQuery     one workgroup per (t, h, b): dq[t] = Σ_u dS[t,u]·k[u], where
//                     dS = scale·P∘(dP − drow) and dP[t,u] = dOut[t]·v[u].
//   backwardKeyValue  one workgroup per (u, kv head, b), looping over every query head of the group
//                     and every t that sees u: dv[u] = Σ P[h,t,u]·dOut[h,t], dk[u] = Σ dS[h,t,u]·q[h,t].
// No atomics: each output element has exactly one writer. The backward OVERWRITES dq, dk and dv
// (the CPU version accumulates into them).
//
// The workgroup passes share one pattern: 64 invocations each take one (query or key) entry of a
// chunk, compute its scalar weight with a head-dim dot product, and park it in workgroup memory;
// after a barrier, the invocations switch to owning head-dim columns (d = lid, lid+64, ...) and
// accumulate the chunk's weighted rows into registers. So hd <= MAX_HD.

const WG: u32 = 64u;
const MAX_HD: u32 = 256u;
const DPT: u32 = MAX_HD / WG; // head-dim columns owned per invocation
const NEG_BIG: f32 = -3.4028234e38;

struct Dims {
  B: u32,
  T: u32,
  nHeads: u32,
  nKvHeads: u32,
  headDim: u32,
  window: u32, // 0: no sliding window (full causal)
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

var<workgroup> red: array<f32, WG>;       // reductions
var<workgroup> rowVec: array<f32, MAX_HD>; // the row every entry dots with: q[t] / dOut[t] / v[u]
var<workgroup> wP: array<f32, WG>;        // per chunk entry: P (backwardKeyValue)
var<workgroup> wS: array<f32, WG>;        // per chunk entry: dS
var<workgroup> wOff: array<u32, WG>;      // per chunk entry: offset of the row to accumulate

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

/** Smallest u >= lo with u ≡ lid (mod WG): the forward keeps each key with one invocation. */
fn ownedFrom(lo: u32, lid: u32) -> u32 {
  return lo + (lid + WG - lo % WG) % WG;
}

fn reduceMax(x: f32, lid: u32) -> f32 {
  red[lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn reduceSum(x: f32, lid: u32) -> f32 {
  red[lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x;
  let h = wid.y;
  let b = wid.z;
  let T = dims.T;
  let hd = dims.headDim;
  let g = h / (dims.nHeads / dims.nKvHeads);
  let qRow = (b * T + t) * dims.nHeads * hd + h * hd;
  let kvStride = dims.nKvHeads * hd;
  let kvBase = b * T * kvStride + g * hd;
  let pRow = ((b * dims.nHeads + h) * T + t) * T;
  let lo = firstKey(t);
  for (var d = lid; d < hd; d += WG) { rowVec[d] = q[qRow + d]; }
  workgroupBarrier();

  // Scores (and the zeros outside the window); invocation lid owns keys u ≡ lid (mod WG).
  var m = NEG_BIG;
  for (var u = lid; u < T; u += WG) {
    if (u < lo || u > t) {
      probsW[pRow + u] = 0.0;
    } else {
      let ko = kvBase + u * kvStride;
      var dot = 0.0;
      for (var d = 0u; d < hd; d++) { dot = fma(rowVec[d], k[ko + d], dot); }
      let s = dot * dims.scale;
      probsW[pRow + u] = s;
      m = max(m, s);
    }
  }
  let mx = reduceMax(m, lid);
  var sum = 0.0;
  for (var u = ownedFrom(lo, lid); u <= t; u += WG) {
    let e = exp(probsW[pRow + u] - mx);
    probsW[pRow + u] = e;
    sum += e;
  }
  let inv = 1.0 / reduceSum(sum, lid);
  for (var u = ownedFrom(lo, lid); u <= t; u += WG) { probsW[pRow + u] = probsW[pRow + u] * inv; }
  // The row is read back by the other invocations of this workgroup.
  storageBarrier();

  for (var d = lid; d < hd; d += WG) {
    var acc = 0.0;
    for (var u = lo; u <= t; u++) { acc = fma(probsW[pRow + u], v[kvBase + u * kvStride + d], acc); }
    outW[qRow + d] = acc;
  }
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
fn backwardQuery(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x;
  let h = wid.y;
  let b = wid.z;
  let T = dims.T;
  let hd = dims.headDim;
  let g = h / (dims.nHeads / dims.nKvHeads);
  let qRow = (b * T + t) * dims.nHeads * hd + h * hd;
  let kvStride = dims.nKvHeads * hd;
  let kvBase = b * T * kvStride + g * hd;
  let bh = b * dims.nHeads + h;
  let pRow = (bh * T + t) * T;
  let lo = firstKey(t);
  let D = drowR[bh * T + t];
  for (var d = lid; d < hd; d += WG) { rowVec[d] = dOut[qRow + d]; }
  workgroupBarrier();

  var acc: array<f32, DPT>;
  for (var base = lo; base <= t; base += WG) {
    let u = base + lid;
    var ds = 0.0;
    var ko = kvBase;
    if (u <= t) {
      ko = kvBase + u * kvStride;
      var dp = 0.0;
      for (var d = 0u; d < hd; d++) { dp = fma(rowVec[d], v[ko + d], dp); }
      ds = probsR[pRow + u] * (dp - D) * dims.scale;
    }
    wS[lid] = ds;
    wOff[lid] = ko;
    workgroupBarrier();
    let n = min(WG, t + 1u - base);
    for (var j = 0u; j < DPT; j++) {
      let d = lid + j * WG;
      if (d < hd) {
        var a = acc[j];
        for (var i = 0u; i < n; i++) { a = fma(wS[i], k[wOff[i] + d], a); }
        acc[j] = a;
      }
    }
    workgroupBarrier();
  }
  for (var j = 0u; j < DPT; j++) {
    let d = lid + j * WG;
    if (d < hd) { dq[qRow + d] = acc[j]; }
  }
}

@compute @workgroup_size(WG)
fn backwardKeyValue(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let u = wid.x;
  let g = wid.y;
  let b = wid.z;
  let T = dims.T;
  let hd = dims.headDim;
  let group = dims.nHeads / dims.nKvHeads;
  let qStride = dims.nHeads * hd;
  let kvRow = (b * T + u) * dims.nKvHeads * hd + g * hd;
  for (var d = lid; d < hd; d += WG) { rowVec[d] = v[kvRow + d]; }
  workgroupBarrier();

  // Entries e = (head of the group, query position t in [u, lastQuery(u)]), t fastest.
  let nT = lastQuery(u) + 1u - u;
  let total = group * nT;
  var accK: array<f32, DPT>;
  var accV: array<f32, DPT>;
  for (var base = 0u; base < total; base += WG) {
    let e = base + lid;
    var p = 0.0;
    var ds = 0.0;
    var off = 0u;
    if (e < total) {
      let h = g * group + e / nT;
      let t = u + e % nT;
      off = (b * T + t) * qStride + h * hd;
      var dp = 0.0;
      for (var d = 0u; d < hd; d++) { dp = fma(dOut[off + d], rowVec[d], dp); }
      let bh = b * dims.nHeads + h;
      p = probsR[(bh * T + t) * T + u];
      ds = p * (dp - drowR[bh * T + t]) * dims.scale;
    }
    wP[lid] = p;
    wS[lid] = ds;
    wOff[lid] = off;
    workgroupBarrier();
    let n = min(WG, total - base);
    for (var j = 0u; j < DPT; j++) {
      let d = lid + j * WG;
      if (d < hd) {
        var av = accV[j];
        var ak = accK[j];
        for (var i = 0u; i < n; i++) {
          let o = wOff[i] + d;
          av = fma(wP[i], dOut[o], av);
          ak = fma(wS[i], q[o], ak);
        }
        accV[j] = av;
        accK[j] = ak;
      }
    }
    workgroupBarrier();
  }
  for (var j = 0u; j < DPT; j++) {
    let d = lid + j * WG;
    if (d < hd) {
      dk[kvRow + d] = accK[j];
      dv[kvRow + d] = accV[j];
    }
  }
}
