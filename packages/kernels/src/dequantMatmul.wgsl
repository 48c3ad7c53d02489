// Kernels that read a packed frozen weight W [N rows, K cols] (int8, int4, q8_0 or q4_1; layout
// in core's weightQuantization.ts), dequantized in registers:
//   forward     C[M,N] (+)= A[M,K] · deq(W)ᵀ       (A = X, C = Y; a projection, or the LM head)
//   inputGrad   C[M,K] (+)= A[M,N] · deq(W)         (A = dY, C = dX)
//   gather      C[m,:] = deq(W[ids[m] - first, :])  (the embedding lookup; ids outside the bound
//                                                    rows [first, first + N) belong to another slice)
// Rows of A and C are ldA and ldC floats apart (K or N unless the LM head writes a column slice of
// the logits). No dequantized copy of W is ever stored: that is the point (the tab holds the packed
// weight only).
//
// BITS = 8: 4 signed bytes per word; int8 has one scale per row, q8_0 one per 32 columns. BITS =
// 4: 8 nibbles (q + 8) per word, one scale per (row, group of wordsPerGroup words). int8 is a
// grouped format with one group per row. A word never straddles two groups, so each word needs one
// scale.
// Row padding decodes to 0 (zero bytes / nibbles of 8), so a row's last word is read whole and
// its surplus lanes are multiplied by clamped (valid, finite) inputs: no branch in the inner loop.
//
// AFFINE (BITS = 4, GGUF's Q4_1 re-packed): x = d·q + m with raw nibbles q, S holding (d, m) per
// group. Written as d·(q - 8) + (m + 8d), the symmetric decoding serves both: a group's sum is
// d·Σ a·(q - 8) + (m + 8d)·Σ a. Affine rows are whole groups, so there is no padding to cancel.

override BITS: u32 = 8u;
override ACCUMULATE: bool = false;
override AFFINE: bool = false;

struct Dims {
  M: u32,
  N: u32,
  K: u32,
  wordsPerRow: u32,
  wordsPerGroup: u32,
  groupsPerRow: u32,
  ldA: u32,
  ldC: u32,
  first: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read> S: array<f32>;
@group(0) @binding(4) var<storage, read_write> C: array<f32>;
@group(0) @binding(5) var<storage, read> ids: array<i32>;

fn int8x4(w: u32) -> vec4<f32> {
  // Shift each byte to the top, then arithmetic-shift back down: sign extension.
  return vec4<f32>((vec4<i32>(bitcast<i32>(w)) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}

fn int4lo(w: u32) -> vec4<f32> {
  return vec4<f32>(vec4<i32>((vec4<u32>(w) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u)) - vec4<i32>(8));
}

fn int4hi(w: u32) -> vec4<f32> {
  return vec4<f32>(vec4<i32>((vec4<u32>(w) >> vec4<u32>(16u, 20u, 24u, 28u)) & vec4<u32>(15u)) - vec4<i32>(8));
}

fn valuesPerWord() -> u32 {
  return 32u / BITS;
}

/** A[row, k0..k0+3] of the forward's input X, columns clamped into the row. */
fn loadX4(row: u32, k0: u32) -> vec4<f32> {
  let base = row * dims.ldA;
  let kMax = dims.K - 1u;
  return vec4<f32>(A[base + min(k0, kMax)], A[base + min(k0 + 1u, kMax)], A[base + min(k0 + 2u, kMax)], A[base + min(k0 + 3u, kMax)]);
}

/** Dot product of one packed word with the inputs at its columns (lo: first 4, hi: next 4). */
fn wordDot(lo: vec4<f32>, hi: vec4<f32>, w: u32) -> f32 {
  if (BITS == 8u) { return dot(lo, int8x4(w)); }
  return dot(lo, int4lo(w)) + dot(hi, int4hi(w));
}

/** The scale of (row n, group g). */
fn scaleAt(n: u32, g: u32) -> f32 {
  if (AFFINE) { return S[2u * (n * dims.groupsPerRow + g)]; }
  return S[n * dims.groupsPerRow + g];
}

/** The per-group constant added to every value: m + 8d for AFFINE (see above), else 0. */
fn offsetAt(n: u32, g: u32) -> f32 {
  if (AFFINE) { return S[2u * (n * dims.groupsPerRow + g) + 1u] + 8.0 * S[2u * (n * dims.groupsPerRow + g)]; }
  return 0.0;
}

fn store(idx: u32, v: f32) {
  if (ACCUMULATE) { C[idx] = C[idx] + v; } else { C[idx] = v; }
}

// Each invocation: a 4x4 tile of Y (4 rows of X by 4 rows of W). Per group, integer-weight dot
// products are summed first and scaled once (the scale factors out of a group's sum).
@compute @workgroup_size(8, 8)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i0 = gid.y * 4u;
  let j0 = gid.x * 4u;
  if (i0 >= dims.M || j0 >= dims.N) { return; }
  let iMax = dims.M - 1u;
  let jMax = dims.N - 1u;
  let i1 = min(i0 + 1u, iMax); let i2 = min(i0 + 2u, iMax); let i3 = min(i0 + 3u, iMax);
  let j1 = min(j0 + 1u, jMax); let j2 = min(j0 + 2u, jMax); let j3 = min(j0 + 3u, jMax);
  let wr = dims.wordsPerRow;
  let G = dims.groupsPerRow;
  let vpw = valuesPerWord();
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  for (var g = 0u; g < G; g++) {
    let wBegin = g * dims.wordsPerGroup;
    let wEnd = min(wBegin + dims.wordsPerGroup, wr);
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var xs = vec4<f32>(0.0); // Σ of each row's inputs over the group (AFFINE only)
    for (var w = wBegin; w < wEnd; w++) {
      let k0 = w * vpw;
      let w0 = W[j0 * wr + w]; let w1 = W[j1 * wr + w]; let w2 = W[j2 * wr + w]; let w3 = W[j3 * wr + w];
      let x0 = loadX4(i0, k0); let x1 = loadX4(i1, k0); let x2 = loadX4(i2, k0); let x3 = loadX4(i3, k0);
      var h0 = vec4<f32>(0.0); var h1 = vec4<f32>(0.0); var h2 = vec4<f32>(0.0); var h3 = vec4<f32>(0.0);
      if (BITS == 4u) {
        h0 = loadX4(i0, k0 + 4u); h1 = loadX4(i1, k0 + 4u); h2 = loadX4(i2, k0 + 4u); h3 = loadX4(i3, k0 + 4u);
      }
      a0 += vec4<f32>(wordDot(x0, h0, w0), wordDot(x0, h0, w1), wordDot(x0, h0, w2), wordDot(x0, h0, w3));
      a1 += vec4<f32>(wordDot(x1, h1, w0), wordDot(x1, h1, w1), wordDot(x1, h1, w2), wordDot(x1, h1, w3));
      a2 += vec4<f32>(wordDot(x2, h2, w0), wordDot(x2, h2, w1), wordDot(x2, h2, w2), wordDot(x2, h2, w3));
      a3 += vec4<f32>(wordDot(x3, h3, w0), wordDot(x3, h3, w1), wordDot(x3, h3, w2), wordDot(x3, h3, w3));
      if (AFFINE) {
        let one = vec4<f32>(1.0);
        xs += vec4<f32>(dot(x0 + h0, one), dot(x1 + h1, one), dot(x2 + h2, one), dot(x3 + h3, one));
      }
    }
    let s = vec4<f32>(scaleAt(j0, g), scaleAt(j1, g), scaleAt(j2, g), scaleAt(j3, g));
    c0 = fma(a0, s, c0);
    c1 = fma(a1, s, c1);
    c2 = fma(a2, s, c2);
    c3 = fma(a3, s, c3);
    if (AFFINE) {
      let o = vec4<f32>(offsetAt(j0, g), offsetAt(j1, g), offsetAt(j2, g), offsetAt(j3, g));
      c0 = fma(vec4<f32>(xs.x), o, c0);
      c1 = fma(vec4<f32>(xs.y), o, c1);
      c2 = fma(vec4<f32>(xs.z), o, c2);
      c3 = fma(vec4<f32>(xs.w), o, c3);
    }
  }
  let rows = array<vec4<f32>, 4>(c0, c1, c2, c3);
  for (var di = 0u; di < 4u; di++) {
    let i = i0 + di;
    if (i > iMax) { break; }
    for (var dj = 0u; dj < 4u; dj++) {
      let j = j0 + dj;
      if (j > jMax) { break; }
      store(i * dims.ldC + j, rows[di][dj]);
    }
  }
}

// Each invocation: 4 rows of dX by the columns of one packed word (4 for int8, 8 for int4). The
// reduction runs over W's rows n; the word's one scale per row is folded into dY's 4 values.
@compute @workgroup_size(8, 8)
fn inputGrad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i0 = gid.y * 4u;
  let w = gid.x;
  let wr = dims.wordsPerRow;
  if (i0 >= dims.M || w >= wr) { return; }
  let iMax = dims.M - 1u;
  let i1 = min(i0 + 1u, iMax); let i2 = min(i0 + 2u, iMax); let i3 = min(i0 + 3u, iMax);
  let N = dims.N;
  let G = dims.groupsPerRow;
  let g = w / dims.wordsPerGroup;
  var l0 = vec4<f32>(0.0); var l1 = vec4<f32>(0.0); var l2 = vec4<f32>(0.0); var l3 = vec4<f32>(0.0);
  var h0 = vec4<f32>(0.0); var h1 = vec4<f32>(0.0); var h2 = vec4<f32>(0.0); var h3 = vec4<f32>(0.0);
  var off = vec4<f32>(0.0); // Σ_n dY[i, n]·(m + 8d) of the word's group (AFFINE only), shared by its columns
  for (var n = 0u; n < N; n++) {
    let word = W[n * wr + w];
    let ld = dims.ldA;
    let dyRaw = vec4<f32>(A[i0 * ld + n], A[i1 * ld + n], A[i2 * ld + n], A[i3 * ld + n]);
    if (AFFINE) { off = fma(dyRaw, vec4<f32>(offsetAt(n, g)), off); }
    let dy = dyRaw * scaleAt(n, g);
    if (BITS == 8u) {
      let q = int8x4(word);
      l0 = fma(vec4<f32>(dy.x), q, l0); l1 = fma(vec4<f32>(dy.y), q, l1);
      l2 = fma(vec4<f32>(dy.z), q, l2); l3 = fma(vec4<f32>(dy.w), q, l3);
    } else {
      let ql = int4lo(word);
      let qh = int4hi(word);
      l0 = fma(vec4<f32>(dy.x), ql, l0); l1 = fma(vec4<f32>(dy.y), ql, l1);
      l2 = fma(vec4<f32>(dy.z), ql, l2); l3 = fma(vec4<f32>(dy.w), ql, l3);
      h0 = fma(vec4<f32>(dy.x), qh, h0); h1 = fma(vec4<f32>(dy.y), qh, h1);
      h2 = fma(vec4<f32>(dy.z), qh, h2); h3 = fma(vec4<f32>(dy.w), qh, h3);
    }
  }
  let lo = array<vec4<f32>, 4>(l0, l1, l2, l3);
  let hi = array<vec4<f32>, 4>(h0, h1, h2, h3);
  let k0 = w * valuesPerWord();
  for (var di = 0u; di < 4u; di++) {
    let i = i0 + di;
    if (i > iMax) { break; }
    for (var t = 0u; t < valuesPerWord(); t++) {
      let k = k0 + t;
      if (k >= dims.K) { break; }
      var v = off[di];
      if (t < 4u) { v += lo[di][t]; } else { v += hi[di][t - 4u]; }
      store(i * dims.ldC + k, v);
    }
  }
}

// Each invocation: the columns of one packed word of one gathered row. AFFINE decodes as d·q + m
// with the raw nibble (one rounding, as the CPU's dequantization), the symmetric formats as q·s.
@compute @workgroup_size(8, 8)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>) {
  let w = gid.x;
  let m = gid.y;
  if (w >= dims.wordsPerRow || m >= dims.M) { return; }
  let id = ids[m];
  if (id < i32(dims.first) || id >= i32(dims.first + dims.N)) { return; }
  let r = u32(id) - dims.first;
  let word = W[r * dims.wordsPerRow + w];
  let g = w / dims.wordsPerGroup;
  let s = scaleAt(r, g);
  var lo: vec4<f32>;
  var hi = vec4<f32>(0.0);
  if (BITS == 8u) { lo = int8x4(word); } else { lo = int4lo(word); hi = int4hi(word); }
  var shift = 0.0;
  var add = 0.0;
  if (AFFINE) { shift = 8.0; add = S[2u * (r * dims.groupsPerRow + g) + 1u]; }
  let k0 = w * valuesPerWord();
  for (var t = 0u; t < valuesPerWord(); t++) {
    let k = k0 + t;
    if (k >= dims.K) { break; }
    var q = 0.0;
    if (t < 4u) { q = lo[t]; } else { q = hi[t - 4u]; }
    C[m * dims.ldC + k] = fma(q + shift, s, add);
  }
}
