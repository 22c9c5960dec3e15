// Baseline: one invocation per output element, K summed in a plain loop. Slow everywhere;
// it is the benchmark's yardstick and the easiest kernel to trust when debugging.
@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let n = gid.x;
  let m = gid.y;
  let z = gid.z;
  if (m >= p.M || n >= p.NC) { return; }
  var s = 0.0;
  for (var k = 0u; k < p.K; k++) {
    s += a[aIndex(z, m, k)] * b[bIndex(z, k, n)];
  }
  store(z, m, n, s);
}
