// Multi-head scaled-dot-product attention, forward, f32, flash-style online softmax.
//
// One workgroup = QT consecutive query rows of one (batch, head); one invocation = one query row.
// Keys and values are streamed straight from the storage buffers in chunks of four keys: every
// invocation of a workgroup reads the same key at the same time, so on CPU drivers (lavapipe,
// whose subgroups are 8 lanes wide) each K/V load is one scalar load broadcast to the lanes,
// while q and the output accumulator stay in registers. No score matrix is ever stored.
//
// Masks are described per query row by at most two visible key intervals [x, y) and [z, w)
// (two are needed by the block-diffusion training mask: the row's own x_t block and the clean
// x0 prefix). A workgroup visits only the hull of its rows' intervals, so key tiles that are
// masked for every row of the tile are skipped; each row still masks keys outside its own
// intervals, which handles tiles that are partly visible.
//
// The loops over the D4 vec4 registers of a row are bounded by the uniform p.d4 rather than
// the constant D4 on purpose: a constant bound lets the driver unroll them, which on lavapipe
// made compiling a D = 64 pipeline take 26 s (67 s with 16-key chunks) and ran 2x slower than
// the rolled loop, whose uniform index keeps register-array accesses cheap.
//
// Split-KV: when the grid would have too few workgroups to fill the device (a few query rows
// against a long KV cache while sampling), SPLIT divides the keys into nsplit ranges, one
// workgroup each; every split writes its unnormalised output with its running max and sum to
// a partial record (through the lse binding), and attention_combine.wgsl merges them.
//
// Compile-time constants (from the launcher): QT rows per workgroup, D head
// dim, D4 = ceil(D / 4) vec4 registers per row, MODE (0 full/cached, 1 causal, 2 block-causal,
// 3 bd-train), VAR_BLOCKS (block bounds come from a table instead of a fixed size), HAS_LSE,
// SPLIT.
// Sections between //#if VEC / //#else / //#endif are chosen by the launcher: the vec4 path
// binds the operands as array<vec4f> (all strides and offsets multiples of 4, D % 4 == 0);
// the scalar path handles any D and any alignment.

struct Params {
  sq: u32, sk: u32, heads: u32, block: u32,
  half_len: u32, shift: u32, o_row: u32, o_head: u32,
  q_off: u32, q_row: u32, q_batch: u32, q_head: u32,
  k_off: u32, k_row: u32, k_batch: u32, k_head: u32,
  v_off: u32, v_row: u32, v_batch: u32, v_head: u32,
  // softmax scale times log2(e): scores live in the log2 domain so exp2 can be used.
  qscale: f32, nblk: u32, d4: u32, _p2: u32,
  // Split-KV (SPLIT): workgroup x = tile * nsplit + split, each split sees keys
  // [split * split_len, (split + 1) * split_len) and writes a partial record instead of out.
  nsplit: u32, split_len: u32, _p3: u32, _p4: u32,
}

@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
// Per-position block bounds (start, end) when VAR_BLOCKS, flattened pairs.
@group(0) @binding(5) var<storage, read> blocks: array<u32>;
@group(0) @binding(6) var<uniform> p: Params;

//#if VEC
@group(0) @binding(0) var<storage, read> qb: array<vec4f>;
@group(0) @binding(1) var<storage, read> kb: array<vec4f>;
@group(0) @binding(2) var<storage, read> vb: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> ob: array<vec4f>;
// Offsets and strides are in vec4 units on this path.
fn ldq(base: u32, c: u32) -> vec4f { return qb[base + c]; }
fn ldk(base: u32, c: u32) -> vec4f { return kb[base + c]; }
fn ldv(base: u32, c: u32) -> vec4f { return vb[base + c]; }
fn sto(base: u32, c: u32, x: vec4f) { ob[base + c] = x; }
//#else
@group(0) @binding(0) var<storage, read> qb: array<f32>;
@group(0) @binding(1) var<storage, read> kb: array<f32>;
@group(0) @binding(2) var<storage, read> vb: array<f32>;
@group(0) @binding(3) var<storage, read_write> ob: array<f32>;
// Lanes past D read as zero (q's zeros keep them out of the scores and they are never stored).
fn lanes(c: u32) -> vec4<bool> { return vec4u(4u * c) + vec4u(0u, 1u, 2u, 3u) < vec4u(D); }
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
fn sto(base: u32, c: u32, x: vec4f) {
  let ok = lanes(c);
  let i = base + 4u * c;
  if (ok.x) { ob[i] = x.x; }
  if (ok.y) { ob[i + 1u] = x.y; }
  if (ok.z) { ob[i + 2u] = x.z; }
  if (ok.w) { ob[i + 3u] = x.w; }
}
//#endif

// Finite "minus infinity": keeps exp2(m_old - m_new) well defined before any key was visible.
const NEG = -3.0e38;

// (start, end) of the block holding position pos of a sequence of nblk positions.
fn block_of(pos: u32) -> vec2u {
  if (VAR_BLOCKS) {
    return vec2u(blocks[2u * pos], blocks[2u * pos + 1u]);
  }
  let s = (pos / p.block) * p.block;
  return vec2u(s, min(s + p.block, p.nblk));
}

// The visible key intervals [x, y) and [z, w) of query row r (an empty one has y <= x).
fn ranges(r: u32) -> vec4u {
  if (MODE == 1) {
    return vec4u(0u, r + p.shift + 1u, 0u, 0u);
  }
  if (MODE == 2) {
    return vec4u(0u, block_of(r + p.shift).y, 0u, 0u);
  }
  if (MODE == 3) {
    let l = p.half_len;
    if (r < l) {
      // x_t row: its own x_t block (M_BD) and the clean blocks strictly before it (M_OBC).
      let bb = block_of(r);
      return vec4u(bb.x, bb.y, l, l + bb.x);
    }
    // x0 row: clean blocks up to and including its own (M_BC).
    return vec4u(0u, 0u, l, l + block_of(r - l).y);
  }
  return vec4u(0u, p.sk, 0u, 0u);
}

@compute @workgroup_size(QT)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let b = wid.z;
  var tile = wid.x;
  var s0 = 0u;
  var s1 = p.sk;
  if (SPLIT) {
    tile = wid.x / p.nsplit;
    s0 = (wid.x % p.nsplit) * p.split_len;
    s1 = min(s0 + p.split_len, p.sk);
  }
  let tile0 = tile * QT;

  // Hull of the tile's intervals. Depends only on the workgroup, so it stays uniform and the
  // key loops below keep uniform bounds (and uniform, i.e. scalar, K/V loads on CPU drivers).
  var alo = p.sk;
  var ahi = 0u;
  var blo = p.sk;
  var bhi = 0u;
  for (var t = 0u; t < QT; t++) {
    let r = tile0 + t;
    if (r < p.sq) {
      let g = ranges(r);
      if (g.y > g.x) { alo = min(alo, g.x); ahi = max(ahi, g.y); }
      if (g.w > g.z) { blo = min(blo, g.z); bhi = max(bhi, g.w); }
    }
  }

  // This split's share of the hull.
  alo = max(alo, s0);
  ahi = min(ahi, s1);
  blo = max(blo, s0);
  bhi = min(bhi, s1);

  let row = min(tile0 + lid, p.sq - 1u);
  let mine = ranges(row);
  let qbase = p.q_off + b * p.q_batch + row * p.q_row + h * p.q_head;
  var q: array<vec4f, D4>;
  var o: array<vec4f, D4>;
  for (var c = 0u; c < p.d4; c++) {
    q[c] = ldq(qbase, c) * p.qscale;
    o[c] = vec4f(0.0);
  }
  var m = NEG;
  var l = 0.0;
  let kb0 = p.k_off + b * p.k_batch + h * p.k_head;
  let vb0 = p.v_off + b * p.v_batch + h * p.v_head;

  for (var seg = 0u; seg < 2u; seg++) {
    let lo = select(blo, alo, seg == 0u);
    let hi = select(bhi, ahi, seg == 0u);
    // Chunks of four keys: their scores form one vec4, so the softmax bookkeeping is
    // vectorised and the output is rescaled once per chunk rather than once per key.
    for (var j0 = lo; j0 < hi; j0 += 4u) {
      // Past the end of the interval: re-read the last key (in bounds) and mask the score.
      let last = hi - 1u;
      let j = vec4u(j0) + vec4u(0u, 1u, 2u, 3u);
      let jj = min(j, vec4u(last));
      let k0 = kb0 + jj.x * p.k_row;
      let k1 = kb0 + jj.y * p.k_row;
      let k2 = kb0 + jj.z * p.k_row;
      let k3 = kb0 + jj.w * p.k_row;
      var a0 = vec4f(0.0);
      var a1 = vec4f(0.0);
      var a2 = vec4f(0.0);
      var a3 = vec4f(0.0);
      for (var c = 0u; c < p.d4; c++) {
        let qc = q[c];
        a0 = fma(qc, ldk(k0, c), a0);
        a1 = fma(qc, ldk(k1, c), a1);
        a2 = fma(qc, ldk(k2, c), a2);
        a3 = fma(qc, ldk(k3, c), a3);
      }
      let one = vec4f(1.0);
      let sc = vec4f(dot(a0, one), dot(a1, one), dot(a2, one), dot(a3, one));
      let in_a = (j >= vec4u(mine.x)) & (j < vec4u(mine.y));
      let in_b = (j >= vec4u(mine.z)) & (j < vec4u(mine.w));
      let vis = (j < vec4u(hi)) & (in_a | in_b);
      let s = select(vec4f(NEG), sc, vis);
      let mc = max(m, max(max(s.x, s.y), max(s.z, s.w)));
      let alpha = exp2(m - mc);
      let pr = select(vec4f(0.0), exp2(s - vec4f(mc)), vis);
      l = l * alpha + dot(pr, one);
      m = mc;
      let v0 = vb0 + jj.x * p.v_row;
      let v1 = vb0 + jj.y * p.v_row;
      let v2 = vb0 + jj.z * p.v_row;
      let v3 = vb0 + jj.w * p.v_row;
      for (var c = 0u; c < p.d4; c++) {
        var acc = o[c] * alpha;
        acc = fma(vec4f(pr.x), ldv(v0, c), acc);
        acc = fma(vec4f(pr.y), ldv(v1, c), acc);
        acc = fma(vec4f(pr.z), ldv(v2, c), acc);
        o[c] = fma(vec4f(pr.w), ldv(v3, c), acc);
      }
    }
  }

  if (tile0 + lid >= p.sq) { return; }
  if (SPLIT) {
    // Partial record [o (4·d4 values), m, l] of (batch, head, split, row), in `lse`.
    let stride = 4u * p.d4 + 2u;
    let rec = (((b * p.heads + h) * p.nsplit + wid.x % p.nsplit) * p.sq + row) * stride;
    for (var c = 0u; c < p.d4; c++) {
      let x = o[c];
      lse[rec + 4u * c] = x.x;
      lse[rec + 4u * c + 1u] = x.y;
      lse[rec + 4u * c + 2u] = x.z;
      lse[rec + 4u * c + 3u] = x.w;
    }
    lse[rec + 4u * p.d4] = m;
    lse[rec + 4u * p.d4 + 1u] = l;
    return;
  }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  let obase = (b * p.sq + row) * p.o_row + h * p.o_head;
  for (var c = 0u; c < p.d4; c++) {
    sto(obase, c, o[c] * inv);
  }
  if (HAS_LSE) {
    // Natural-log log-sum-exp of the scaled scores (the log2-domain max converted back).
    lse[(b * p.heads + h) * p.sq + row] = (m + log2(l)) * 0.6931471805599453;
  }
}
