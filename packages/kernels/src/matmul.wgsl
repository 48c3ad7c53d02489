// C[M,N] = alpha * A·B (+ C when ACCUMULATE), the one matmul family every linear-layer product of
// a training step maps to:
//   forward  Y  = X·Wᵀ   (TRANS_B)      input grad  dX = dY·W   (neither)
//   weight grad dW = dYᵀ·X (TRANS_A)
// A is [M,R] (or [R,M] with TRANS_A), B is [R,N] (or [N,R] with TRANS_B), row-major.
// Each invocation computes a 4x4 register tile: per reduction step 8 loads feed 16 FMAs.
// Edge tiles clamp their load indices into range (duplicating a valid row/column) and skip the
// out-of-range stores, so no branch sits in the inner loop and any M, N, R works.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override ACCUMULATE: bool = false;

// lda / ldc: row strides of A and C in elements (A's and C's own widths unless they are column
// ranges of wider matrices: how a weight split into row slices writes its columns of the output).
struct Dims {
  M: u32,
  N: u32,
  R: u32,
  alpha: f32,
  lda: u32,
  ldc: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

fn loadA(i: u32, r: u32) -> f32 {
  if (TRANS_A) { return A[r * dims.lda + i]; }
  return A[i * dims.lda + r];
}

fn loadB(r: u32, j: u32) -> f32 {
  if (TRANS_B) { return B[j * dims.R + r]; }
  return B[r * dims.N + j];
}

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i0 = gid.y * 4u;
  let j0 = gid.x * 4u;
  if (i0 >= dims.M || j0 >= dims.N) { return; }
  let iMax = dims.M - 1u;
  let jMax = dims.N - 1u;
  let i1 = min(i0 + 1u, iMax); let i2 = min(i0 + 2u, iMax); let i3 = min(i0 + 3u, iMax);
  let j1 = min(j0 + 1u, jMax); let j2 = min(j0 + 2u, jMax); let j3 = min(j0 + 3u, jMax);
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  for (var r = 0u; r < dims.R; r++) {
    let b = vec4<f32>(loadB(r, j0), loadB(r, j1), loadB(r, j2), loadB(r, j3));
    c0 = fma(vec4<f32>(loadA(i0, r)), b, c0);
    c1 = fma(vec4<f32>(loadA(i1, r)), b, c1);
    c2 = fma(vec4<f32>(loadA(i2, r)), b, c2);
    c3 = fma(vec4<f32>(loadA(i3, r)), b, c3);
  }
  let rows = array<vec4<f32>, 4>(c0, c1, c2, c3);
  for (var di = 0u; di < 4u; di++) {
    let i = i0 + di;
    if (i > iMax) { break; }
    for (var dj = 0u; dj < 4u; dj++) {
      let j = j0 + dj;
      if (j > jMax) { break; }
      let idx = i * dims.ldc + j;
      let v = dims.alpha * rows[di][dj];
      if (ACCUMULATE) { C[idx] = C[idx] + v; } else { C[idx] = v; }
    }
  }
}
