// Few rows times a Linear layer's weight (C = A·Bᵀ, B stored [N, K], K a multiple of 4): one
// invocation per output column n walks row n of B and the MR rows of A with 16-byte loads.
// The old GEMV kernel read B element by element, so neighbouring invocations (the SIMD lanes
// of a CPU driver) gathered 4-byte values from 8 different rows per load; here each lane
// loads a whole vec4 of its own row, and every invocation of a workgroup loads the same A
// values (a broadcast). Needs TRANS_B and no A transpose; the launcher checks K % 4 and the
// 16-byte alignment of both bindings.
@group(0) @binding(0) var<storage, read> a: array<vec4f>;
@group(0) @binding(1) var<storage, read> b: array<vec4f>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let n = gid.x;
  let m0 = gid.y * MR;
  let z = gid.z;
  if (n >= p.NC) { return; }
  let k4 = p.K / 4u;
  let bBase = (z * p.strideB + n * p.K) / 4u;
  var acc: array<vec4f, MR>;
  var aBase: array<u32, MR>;
  for (var r = 0u; r < MR; r++) { aBase[r] = (z * p.strideA + min(m0 + r, p.M - 1u) * p.K) / 4u; }
  for (var k = 0u; k < k4; k++) {
    let bv = b[bBase + k];
    for (var r = 0u; r < MR; r++) { acc[r] = fma(a[aBase[r] + k], bv, acc[r]); }
  }
  for (var r = 0u; r < MR; r++) {
    if (m0 + r < p.M) { store(z, m0 + r, n, dot(acc[r], vec4f(1.0))); }
  }
}
