enable subgroups;
// For CPU drivers (lavapipe, SwiftShader): register tiling with A shared through subgroup
// broadcasts. A CPU driver runs the 8 lanes of a subgroup as the 8 slots of one SIMD
// register, so workgroup memory is just slow memory and barriers are expensive; what pays is
// keeping a large tile of C in registers and loading each input once per tile.
//
// One workgroup = one subgroup of 8 lanes computes TM rows × 8·TN columns of C. Lane l owns
// columns n0 + 8c + l (c < TN: neighbouring lanes read neighbouring B addresses when B is
// row-major) and all TM rows. Per step of 4 k values every lane loads its TN·4 values of B
// and TM/8 rows of A (rows m0 + 8g + l); each A row is then broadcast to all lanes, so every
// loaded value feeds TM or 8·TN multiply-adds. Needs a subgroup of at least 8 lanes (the
// launcher checks the adapter) and runs in uniform control flow: lanes past the edge of C
// load clamped, valid addresses and simply never store.
const TN4 = TN / 4u;
const TM8 = TM / 8u;

var<private> acc: array<vec4f, TM * TN4>; // [row r][column group cv]: columns 4cv..4cv+3
var<private> bv: array<vec4f, 4u * TN4>;  // [kk][cv]
var<private> av: array<vec4f, TM8>;       // this lane's A rows, 4 consecutive k

// acc[r] += A(r, k..k+3) · B(k..k+3, lane's columns), the broadcast row already in `x`.
fn rowFma(r: u32, x: vec4f) {
  for (var cv = 0u; cv < TN4; cv++) {
    var s = acc[r * TN4 + cv];
    s = fma(vec4f(x.x), bv[cv], s);
    s = fma(vec4f(x.y), bv[TN4 + cv], s);
    s = fma(vec4f(x.z), bv[2u * TN4 + cv], s);
    s = fma(vec4f(x.w), bv[3u * TN4 + cv], s);
    acc[r * TN4 + cv] = s;
  }
}

// Loads one k-step into av/bv. `tail` (constant at each call site) zeroes k ≥ K.
fn loadStep(z: u32, k: u32, lane: u32, m0: u32, n0: u32, tail: bool) {
  for (var kk = 0u; kk < 4u; kk++) {
    let kc = min(k + kk, p.K - 1u);
    let live = !tail || k + kk < p.K;
    for (var cv = 0u; cv < TN4; cv++) {
      var v: vec4f;
      for (var j = 0u; j < 4u; j++) {
        let n = min(n0 + (cv * 4u + j) * 8u + lane, p.NC - 1u);
        v[j] = b[bIndex(z, kc, n)];
      }
      bv[kk * TN4 + cv] = select(vec4f(0.0), v, live);
    }
  }
  for (var g = 0u; g < TM8; g++) {
    let m = min(m0 + g * 8u + lane, p.M - 1u);
    var v: vec4f;
    for (var kk = 0u; kk < 4u; kk++) {
      let x = a[aIndex(z, m, min(k + kk, p.K - 1u))];
      v[kk] = select(0.0, x, !tail || k + kk < p.K);
    }
    av[g] = v;
  }
}

// Broadcasts every lane's A rows (the lane index must be a constant, hence eight lines).
fn multiply() {
  for (var g = 0u; g < TM8; g++) {
    rowFma(g * 8u + 0u, subgroupBroadcast(av[g], 0u));
    rowFma(g * 8u + 1u, subgroupBroadcast(av[g], 1u));
    rowFma(g * 8u + 2u, subgroupBroadcast(av[g], 2u));
    rowFma(g * 8u + 3u, subgroupBroadcast(av[g], 3u));
    rowFma(g * 8u + 4u, subgroupBroadcast(av[g], 4u));
    rowFma(g * 8u + 5u, subgroupBroadcast(av[g], 5u));
    rowFma(g * 8u + 6u, subgroupBroadcast(av[g], 6u));
    rowFma(g * 8u + 7u, subgroupBroadcast(av[g], 7u));
  }
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let z = wid.z;
  let m0 = wid.y * TM;
  let n0 = wid.x * (8u * TN);
  let k4 = p.K & ~3u;
  for (var k = 0u; k < k4; k += 4u) {
    loadStep(z, k, lane, m0, n0, false);
    multiply();
  }
  if (k4 < p.K) {
    loadStep(z, k4, lane, m0, n0, true);
    multiply();
  }
  for (var r = 0u; r < TM; r++) {
    let m = m0 + r;
    if (m < p.M) {
      for (var c = 0u; c < TN; c++) {
        let n = n0 + c * 8u + lane;
        if (n < p.NC) { store(z, m, n, acc[r * TN4 + c / 4u][c % 4u]); }
      }
    }
  }
}
