// For GPUs: classic workgroup-memory tiling. A 16×16 workgroup computes a 64×64 tile of C,
// 4×4 outputs per invocation, staging 64×16 slices of A and 16×64 slices of B in workgroup
// memory as vec4s (four consecutive rows of A, four consecutive columns of B) so the inner
// loop is two vec4 reads feeding four vec4 multiply-adds. Global loads are arranged so that
// neighbouring invocations read neighbouring addresses for every trans combination.
// Out-of-range elements are loaded as zeros from a clamped (always valid) index.
const BM = 64u;
const BN = 64u;
const BK = 16u;

var<workgroup> tileA: array<vec4f, 256>; // [BK][BM / 4]
var<workgroup> tileB: array<vec4f, 256>; // [BK][BN / 4]

fn loadA(z: u32, m: u32, k: u32) -> f32 {
  let v = a[aIndex(z, min(m, p.M - 1u), min(k, p.K - 1u))];
  return select(0.0, v, m < p.M && k < p.K);
}

fn loadB(z: u32, k: u32, n: u32) -> f32 {
  let v = b[bIndex(z, min(k, p.K - 1u), min(n, p.NC - 1u))];
  return select(0.0, v, k < p.K && n < p.NC);
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let z = wid.z;
  let mBase = wid.y * BM;
  let nBase = wid.x * BN;
  // Which vec4 of each tile this invocation stages: along K when K is the contiguous axis.
  var ak = t % BK;
  var am = t / BK;
  if (TRANS_A) { am = t % 16u; ak = t / 16u; }
  var bk = t / 16u;
  var bn = t % 16u;
  if (TRANS_B) { bk = t % BK; bn = t / BK; }

  var acc: array<vec4f, 4>;
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    let m = mBase + am * 4u;
    tileA[ak * 16u + am] = vec4f(loadA(z, m, k0 + ak), loadA(z, m + 1u, k0 + ak),
                                 loadA(z, m + 2u, k0 + ak), loadA(z, m + 3u, k0 + ak));
    let n = nBase + bn * 4u;
    tileB[bk * 16u + bn] = vec4f(loadB(z, k0 + bk, n), loadB(z, k0 + bk, n + 1u),
                                 loadB(z, k0 + bk, n + 2u), loadB(z, k0 + bk, n + 3u));
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let av = tileA[kk * 16u + lid.y];
      let bv = tileB[kk * 16u + lid.x];
      acc[0] = fma(vec4f(av.x), bv, acc[0]);
      acc[1] = fma(vec4f(av.y), bv, acc[1]);
      acc[2] = fma(vec4f(av.z), bv, acc[2]);
      acc[3] = fma(vec4f(av.w), bv, acc[3]);
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = mBase + lid.y * 4u + i;
    if (m < p.M) {
      for (var j = 0u; j < 4u; j++) {
        let n = nBase + lid.x * 4u + j;
        if (n < p.NC) { store(z, m, n, acc[i][j]); }
      }
    }
  }
}
