// Attention backward, steps 2 and 3: the gradients of q (entry dq_main) and of k and v
// (entry dkv_main), f32, recomputing the probabilities from the forward's log-sum-exp instead
// of keeping an S×S matrix:
//   p_ij = exp2(s₂_ij − lse₂_i)     s₂ = scale·log2(e)·q_i·k_j (log2 domain, as the forward)
//   dp_ij = dout_i · v_j,  ds_ij = p_ij (dp_ij − Δ_i)
//   dq_i = scale Σ_j ds_ij k_j,  dk_j = scale Σ_i ds_ij q_i,  dv_j = Σ_i p_ij dout_i
// Each output row is owned by one invocation and written once, so there are no atomics and
// the result is deterministic: dq_main walks the keys a query row sees (one invocation per
// query row, like the forward), dkv_main walks the queries that see a key row (one invocation
// per key row). Either way the streamed rows are read by all invocations of a workgroup at
// once (scalar loads broadcast to the lanes on CPU drivers) and the row's own vectors stay in
// registers.
//
// The mask arrives as a table of intervals built on the host: per row at most two intervals
// [x, y) ∪ [z, w), the keys a query row sees (the forward's `ranges`) or the query rows that
// see a key (their transpose), and per workgroup tile the hull of its rows' intervals. A
// workgroup visits only its hull, so tiles the mask hides from the whole workgroup are skipped;
// each row masks the rest itself. Evaluating the mask in the shader instead (mode branches,
// block lookups) tripled lavapipe's compile time of these entry points, to 6-13 s each.
//
// Loops over the D4 vec4 registers use the uniform bound p.d4, not the constant D4: with a
// constant bound lavapipe unrolls them, compiles for tens of seconds and runs slower.
//
// Compile-time constants: QT rows per workgroup and D4, the capacity of the vec4 register
// arrays (≥ ceil(D / 4); the launcher uses a few sizes so that few pipelines exist). //#if VEC
// sections: the vec4 path (all strides, offsets and D multiples of 4), else the scalar path
// (any D, any alignment).

struct Params {
  sq: u32, sk: u32, heads: u32, d4: u32,
  // Where the interval table's sections start: key rows, query-tile hulls, key-tile hulls
  // (query rows start at 0).
  iv_keys: u32, iv_qtiles: u32, iv_ktiles: u32, _p0: u32,
  q_off: u32, q_row: u32, q_batch: u32, q_head: u32,
  k_off: u32, k_row: u32, k_batch: u32, k_head: u32,
  v_off: u32, v_row: u32, v_batch: u32, v_head: u32,
  // Output views: dq for dq_main; dk (g0) and dv (g1) for dkv_main.
  g0_off: u32, g0_row: u32, g0_batch: u32, g0_head: u32,
  g1_off: u32, g1_row: u32, g1_batch: u32, g1_head: u32,
  // dout is [B, Sq, d] like the forward's output: row stride d, head stride D.
  o_row: u32, o_head: u32,
  // scale · log2(e) for the scores, and scale itself for the final dq / dk.
  qscale: f32, scale: f32,
  // same_kv: dk and dv live in one buffer, bound once as g0 (Dawn rejects one buffer bound
  // twice as writable in a dispatch); d: the head dim.
  same_kv: u32, d: u32,
}

// (lse · log2(e), Δ) per (b, h, query row), from the stats kernel.
@group(0) @binding(4) var<storage, read> stats: array<vec2f>;
// The interval table: query rows, key rows, query tiles, key tiles (x, y, z, w each).
@group(0) @binding(5) var<storage, read> iv: array<vec4u>;
@group(0) @binding(8) var<uniform> p: Params;

//#if VEC
@group(0) @binding(0) var<storage, read> qb: array<vec4f>;
@group(0) @binding(1) var<storage, read> kb: array<vec4f>;
@group(0) @binding(2) var<storage, read> vb: array<vec4f>;
@group(0) @binding(3) var<storage, read> gb: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> g0b: array<vec4f>;
@group(0) @binding(7) var<storage, read_write> g1b: array<vec4f>;
fn ldq(base: u32, c: u32) -> vec4f { return qb[base + c]; }
fn ldk(base: u32, c: u32) -> vec4f { return kb[base + c]; }
fn ldv(base: u32, c: u32) -> vec4f { return vb[base + c]; }
fn ldg(base: u32, c: u32) -> vec4f { return gb[base + c]; }
fn st0(base: u32, c: u32, x: vec4f) { g0b[base + c] = x; }
fn st1(base: u32, c: u32, x: vec4f) {
  if (p.same_kv != 0u) { g0b[base + c] = x; } else { g1b[base + c] = x; }
}
//#else
@group(0) @binding(0) var<storage, read> qb: array<f32>;
@group(0) @binding(1) var<storage, read> kb: array<f32>;
@group(0) @binding(2) var<storage, read> vb: array<f32>;
@group(0) @binding(3) var<storage, read> gb: array<f32>;
@group(0) @binding(6) var<storage, read_write> g0b: array<f32>;
@group(0) @binding(7) var<storage, read_write> g1b: array<f32>;
// Lanes past D read as zero, so they add nothing to dot products, and are never stored.
fn lanes(c: u32) -> vec4<bool> { return vec4u(4u * c) + vec4u(0u, 1u, 2u, 3u) < vec4u(p.d); }
fn ld4(x: f32, y: f32, z: f32, w: f32, c: u32) -> vec4f {
  return select(vec4f(0.0), vec4f(x, y, z, w), lanes(c));
}
fn ldq(base: u32, c: u32) -> vec4f {
  let i = base + 4u * c;
  return ld4(qb[i], qb[i + 1u], qb[i + 2u], qb[i + 3u], c);
}
fn ldk(base: u32, c: u32) -> vec4f {
  let i = base + 4u * c;
  return ld4(kb[i], kb[i + 1u], kb[i + 2u], kb[i + 3u], c);
}
fn ldv(base: u32, c: u32) -> vec4f {
  let i = base + 4u * c;
  return ld4(vb[i], vb[i + 1u], vb[i + 2u], vb[i + 3u], c);
}
fn ldg(base: u32, c: u32) -> vec4f {
  let i = base + 4u * c;
  return ld4(gb[i], gb[i + 1u], gb[i + 2u], gb[i + 3u], c);
}
fn st0(base: u32, c: u32, x: vec4f) {
  let ok = lanes(c);
  let i = base + 4u * c;
  if (ok.x) { g0b[i] = x.x; }
  if (ok.y) { g0b[i + 1u] = x.y; }
  if (ok.z) { g0b[i + 2u] = x.z; }
  if (ok.w) { g0b[i + 3u] = x.w; }
}
fn st1(base: u32, c: u32, x: vec4f) {
  if (p.same_kv != 0u) { st0(base, c, x); return; }
  let ok = lanes(c);
  let i = base + 4u * c;
  if (ok.x) { g1b[i] = x.x; }
  if (ok.y) { g1b[i + 1u] = x.y; }
  if (ok.z) { g1b[i + 2u] = x.z; }
  if (ok.w) { g1b[i + 3u] = x.w; }
}
//#endif

@compute @workgroup_size(QT)
fn dq_main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let b = wid.z;
  let tile0 = wid.x * QT;
  let hl = iv[p.iv_qtiles + wid.x];
  let row = min(tile0 + lid, p.sq - 1u);
  let mine = iv[row];
  let qbase = p.q_off + b * p.q_batch + row * p.q_row + h * p.q_head;
  let gbase = (b * p.sq + row) * p.o_row + h * p.o_head;
  var q: array<vec4f, D4>;
  var g: array<vec4f, D4>;
  var dq: array<vec4f, D4>;
  for (var c = 0u; c < p.d4; c++) {
    q[c] = ldq(qbase, c) * p.qscale;
    g[c] = ldg(gbase, c);
    dq[c] = vec4f(0.0);
  }
  let st = stats[(b * p.heads + h) * p.sq + row];
  let kb0 = p.k_off + b * p.k_batch + h * p.k_head;
  let vb0 = p.v_off + b * p.v_batch + h * p.v_head;
  let one = vec4f(1.0);

  // One loop over both hull intervals (a loop per interval would be unrolled into two copies
  // of the body, doubling the compile time); the first one is padded to whole steps of four.
  let na = select(0u, (hl.y - hl.x + 3u) & ~3u, hl.y > hl.x);
  let steps = na + select(0u, hl.w - hl.z, hl.w > hl.z);
  // Four keys per step: their scores and dp form vec4s.
  for (var t = 0u; t < steps; t += 4u) {
    let first = t < na;
    let j0 = select(hl.z + t - na, hl.x + t, first);
    let hi = select(hl.w, hl.y, first);
    {
      // Past the interval's end: re-read its last key (in bounds) and mask it out.
      let j = vec4u(j0) + vec4u(0u, 1u, 2u, 3u);
      let jj = min(j, vec4u(hi - 1u));
      let k0 = kb0 + jj.x * p.k_row;
      let k1 = kb0 + jj.y * p.k_row;
      let k2 = kb0 + jj.z * p.k_row;
      let k3 = kb0 + jj.w * p.k_row;
      let v0 = vb0 + jj.x * p.v_row;
      let v1 = vb0 + jj.y * p.v_row;
      let v2 = vb0 + jj.z * p.v_row;
      let v3 = vb0 + jj.w * p.v_row;
      var a0 = vec4f(0.0);
      var a1 = vec4f(0.0);
      var a2 = vec4f(0.0);
      var a3 = vec4f(0.0);
      var e0 = vec4f(0.0);
      var e1 = vec4f(0.0);
      var e2 = vec4f(0.0);
      var e3 = vec4f(0.0);
      for (var c = 0u; c < p.d4; c++) {
        let qc = q[c];
        let gc = g[c];
        a0 = fma(qc, ldk(k0, c), a0);
        a1 = fma(qc, ldk(k1, c), a1);
        a2 = fma(qc, ldk(k2, c), a2);
        a3 = fma(qc, ldk(k3, c), a3);
        e0 = fma(gc, ldv(v0, c), e0);
        e1 = fma(gc, ldv(v1, c), e1);
        e2 = fma(gc, ldv(v2, c), e2);
        e3 = fma(gc, ldv(v3, c), e3);
      }
      let sc = vec4f(dot(a0, one), dot(a1, one), dot(a2, one), dot(a3, one));
      let dp = vec4f(dot(e0, one), dot(e1, one), dot(e2, one), dot(e3, one));
      let in_a = (j >= vec4u(mine.x)) & (j < vec4u(mine.y));
      let in_b = (j >= vec4u(mine.z)) & (j < vec4u(mine.w));
      let vis = (j < vec4u(hi)) & (in_a | in_b);
      let pr = select(vec4f(0.0), exp2(sc - vec4f(st.x)), vis);
      let ds = pr * (dp - vec4f(st.y));
      for (var c = 0u; c < p.d4; c++) {
        var acc = fma(vec4f(ds.x), ldk(k0, c), dq[c]);
        acc = fma(vec4f(ds.y), ldk(k1, c), acc);
        acc = fma(vec4f(ds.z), ldk(k2, c), acc);
        dq[c] = fma(vec4f(ds.w), ldk(k3, c), acc);
      }
    }
  }

  if (tile0 + lid >= p.sq) { return; }
  let obase = p.g0_off + b * p.g0_batch + row * p.g0_row + h * p.g0_head;
  for (var c = 0u; c < p.d4; c++) {
    st0(obase, c, dq[c] * p.scale);
  }
}

@compute @workgroup_size(QT)
fn dkv_main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let b = wid.z;
  let tile0 = wid.x * QT;
  let hl = iv[p.iv_ktiles + wid.x];
  let key = min(tile0 + lid, p.sk - 1u);
  let mine = iv[p.iv_keys + key];
  let kbase = p.k_off + b * p.k_batch + key * p.k_row + h * p.k_head;
  let vbase = p.v_off + b * p.v_batch + key * p.v_row + h * p.v_head;
  var k: array<vec4f, D4>;
  var v: array<vec4f, D4>;
  var dk: array<vec4f, D4>;
  var dv: array<vec4f, D4>;
  for (var c = 0u; c < p.d4; c++) {
    k[c] = ldk(kbase, c) * p.qscale;
    v[c] = ldv(vbase, c);
    dk[c] = vec4f(0.0);
    dv[c] = vec4f(0.0);
  }
  let sb = (b * p.heads + h) * p.sq;
  let qb0 = p.q_off + b * p.q_batch + h * p.q_head;
  let gb0 = b * p.sq * p.o_row + h * p.o_head;
  let one = vec4f(1.0);

  // One loop over both hull intervals, as in dq_main.
  let na = select(0u, (hl.y - hl.x + 3u) & ~3u, hl.y > hl.x);
  let steps = na + select(0u, hl.w - hl.z, hl.w > hl.z);
  // Four query rows per step.
  for (var t = 0u; t < steps; t += 4u) {
    let first = t < na;
    let i0 = select(hl.z + t - na, hl.x + t, first);
    let hi = select(hl.w, hl.y, first);
    {
      let i = vec4u(i0) + vec4u(0u, 1u, 2u, 3u);
      let ii = min(i, vec4u(hi - 1u));
      let q0 = qb0 + ii.x * p.q_row;
      let q1 = qb0 + ii.y * p.q_row;
      let q2 = qb0 + ii.z * p.q_row;
      let q3 = qb0 + ii.w * p.q_row;
      let g0 = gb0 + ii.x * p.o_row;
      let g1 = gb0 + ii.y * p.o_row;
      let g2 = gb0 + ii.z * p.o_row;
      let g3 = gb0 + ii.w * p.o_row;
      var a0 = vec4f(0.0);
      var a1 = vec4f(0.0);
      var a2 = vec4f(0.0);
      var a3 = vec4f(0.0);
      var e0 = vec4f(0.0);
      var e1 = vec4f(0.0);
      var e2 = vec4f(0.0);
      var e3 = vec4f(0.0);
      for (var c = 0u; c < p.d4; c++) {
        let kc = k[c];
        let vc = v[c];
        a0 = fma(kc, ldq(q0, c), a0);
        a1 = fma(kc, ldq(q1, c), a1);
        a2 = fma(kc, ldq(q2, c), a2);
        a3 = fma(kc, ldq(q3, c), a3);
        e0 = fma(vc, ldg(g0, c), e0);
        e1 = fma(vc, ldg(g1, c), e1);
        e2 = fma(vc, ldg(g2, c), e2);
        e3 = fma(vc, ldg(g3, c), e3);
      }
      let s0 = stats[sb + ii.x];
      let s1 = stats[sb + ii.y];
      let s2 = stats[sb + ii.z];
      let s3 = stats[sb + ii.w];
      let sc = vec4f(dot(a0, one), dot(a1, one), dot(a2, one), dot(a3, one));
      let dp = vec4f(dot(e0, one), dot(e1, one), dot(e2, one), dot(e3, one));
      let in_a = (i >= vec4u(mine.x)) & (i < vec4u(mine.y));
      let in_b = (i >= vec4u(mine.z)) & (i < vec4u(mine.w));
      let vis = (i < vec4u(hi)) & (in_a | in_b);
      let pr = select(vec4f(0.0), exp2(sc - vec4f(s0.x, s1.x, s2.x, s3.x)), vis);
      let ds = pr * (dp - vec4f(s0.y, s1.y, s2.y, s3.y));
      for (var c = 0u; c < p.d4; c++) {
        let gq0 = ldg(g0, c);
        let gq1 = ldg(g1, c);
        let gq2 = ldg(g2, c);
        let gq3 = ldg(g3, c);
        var av = fma(vec4f(pr.x), gq0, dv[c]);
        av = fma(vec4f(pr.y), gq1, av);
        av = fma(vec4f(pr.z), gq2, av);
        dv[c] = fma(vec4f(pr.w), gq3, av);
        var ak = fma(vec4f(ds.x), ldq(q0, c), dk[c]);
        ak = fma(vec4f(ds.y), ldq(q1, c), ak);
        ak = fma(vec4f(ds.z), ldq(q2, c), ak);
        dk[c] = fma(vec4f(ds.w), ldq(q3, c), ak);
      }
    }
  }

  if (tile0 + lid >= p.sk) { return; }
  let kout = p.g0_off + b * p.g0_batch + key * p.g0_row + h * p.g0_head;
  let vout = p.g1_off + b * p.g1_batch + key * p.g1_row + h * p.g1_head;
  for (var c = 0u; c < p.d4; c++) {
    st0(kout, c, dk[c] * p.scale);
    st1(vout, c, dv[c]);
  }
}
