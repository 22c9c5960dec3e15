// Few rows (M = 1 decoding a token, or a handful): one invocation per output column, each
// keeping up to MR rows in registers so every B element it loads is used MR times. The A
// values are the same for all invocations of a workgroup (a broadcast load), and K advances
// four at a time so the dependency chains of the four partial sums overlap.
// Correct for any M (the grid's y axis walks row groups); fast only when M is small.
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let n = gid.x;
  let m0 = gid.y * MR;
  let z = gid.z;
  if (n >= p.NC) { return; }
  var acc: array<vec4f, MR>;
  var rows: array<u32, MR>;
  for (var r = 0u; r < MR; r++) { rows[r] = min(m0 + r, p.M - 1u); }
  let k4 = p.K & ~3u;
  for (var k = 0u; k < k4; k += 4u) {
    let bv = vec4f(b[bIndex(z, k, n)], b[bIndex(z, k + 1u, n)], b[bIndex(z, k + 2u, n)],
                   b[bIndex(z, k + 3u, n)]);
    for (var r = 0u; r < MR; r++) {
      let m = rows[r];
      let av = vec4f(a[aIndex(z, m, k)], a[aIndex(z, m, k + 1u)], a[aIndex(z, m, k + 2u)],
                     a[aIndex(z, m, k + 3u)]);
      acc[r] = fma(av, bv, acc[r]);
    }
  }
  for (var k = k4; k < p.K; k++) {
    let bk = b[bIndex(z, k, n)];
    for (var r = 0u; r < MR; r++) { acc[r].x += a[aIndex(z, rows[r], k)] * bk; }
  }
  for (var r = 0u; r < MR; r++) {
    if (m0 + r < p.M) { store(z, m0 + r, n, dot(acc[r], vec4f(1.0))); }
  }
}
