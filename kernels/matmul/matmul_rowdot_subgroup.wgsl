enable subgroups;
// Few rows times a Linear layer's weight (C = A·Bᵀ, B stored [N, K], K a multiple of 4), for
// GPUs: one subgroup per output column. Its lanes read consecutive vec4s of row n of B (so a
// subgroup's load is one contiguous, coalesced span) and of the MR rows of A, then the
// partial dot products are summed across the subgroup. Columns past the edge are clamped
// rather than returned from, so every subgroup operation runs in uniform control flow.
@group(0) @binding(0) var<storage, read> a: array<vec4f>;
@group(0) @binding(1) var<storage, read> b: array<vec4f>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(local_invocation_index) li: u32,
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) sgSize: u32,
) {
  let perWg = WG / sgSize;
  let nRaw = wg.x * perWg + li / sgSize;
  let n = min(nRaw, p.NC - 1u);
  let m0 = wg.y * MR;
  let z = wg.z;
  let k4 = p.K / 4u;
  let bBase = (z * p.strideB + n * p.K) / 4u;
  var acc: array<vec4f, MR>;
  var aBase: array<u32, MR>;
  for (var r = 0u; r < MR; r++) { aBase[r] = (z * p.strideA + min(m0 + r, p.M - 1u) * p.K) / 4u; }
  for (var k = lane; k < k4; k += sgSize) {
    let bv = b[bBase + k];
    for (var r = 0u; r < MR; r++) { acc[r] = fma(a[aBase[r] + k], bv, acc[r]); }
  }
  for (var r = 0u; r < MR; r++) {
    let total = subgroupAdd(dot(acc[r], vec4f(1.0)));
    if (lane == 0u && nRaw < p.NC && m0 + r < p.M) { store(z, m0 + r, n, total); }
  }
}
