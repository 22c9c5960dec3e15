// Row statistics shared by softmax and log-softmax: for one row of logits v_i = scale·x[base + i]
// (the column p.mask_col, if ≥ 0, reads as −inf), returns m = max_i v_i and s = Σ_i exp(v_i − m).
//
// The including shader declares `x: array<f32>` and a uniform `p` with fields n (row length),
// mask_col (i32), scale (f32) and neg_inf (f32, −inf; it comes from the uniforms because a WGSL
// constant expression may not evaluate to an infinity), and the constant WG (a power of two).
//
// How: each lane keeps an online (max, sum) pair over the strided columns lid, lid + WG, …
// (Milakov & Gimelshein 2018: rescale the sum when the max grows), so the row is read once; the
// WG pairs are then merged by a tree in workgroup memory (pairwise, log2 WG levels).
//
// −inf logits: every exponent is taken against max(m, −FLT_MAX), which is finite, so the
// difference is −inf (exp → 0) and never −inf − (−inf) = NaN, even for a row that is all −inf
// (then s = 0, which the callers test).

const ROW_FLT_MAX = 0x1.fffffep+127f; // the largest finite f32

var<workgroup> stat_m: array<f32, WG>;
var<workgroup> stat_s: array<f32, WG>;

// The scaled logit of column i of the row that starts at base.
fn row_value(base: u32, i: u32) -> f32 {
  return select(x[base + i] * p.scale, p.neg_inf, i32(i) == p.mask_col);
}

// Merges two (max, sum) pairs: the sums are rescaled to the larger max.
fn stats_merge(m1: f32, s1: f32, m2: f32, s2: f32) -> vec2f {
  let m = max(m1, m2);
  let mc = max(m, -ROW_FLT_MAX);
  return vec2f(m, s1 * exp(m1 - mc) + s2 * exp(m2 - mc));
}

// (m, s) of the row that starts at base. Every lane of the workgroup must call it (barriers).
fn row_stats(base: u32, lid: u32) -> vec2f {
  var m = p.neg_inf;
  var s = 0.0;
  for (var i = lid; i < p.n; i += WG) {
    let v = row_value(base, i);
    if (v > m) {
      s = s * exp(m - v) + 1.0;
      m = v;
    } else {
      s += exp(v - max(m, -ROW_FLT_MAX));
    }
  }
  stat_m[lid] = m;
  stat_s[lid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) {
      let r = stats_merge(stat_m[lid], stat_s[lid], stat_m[lid + k], stat_s[lid + k]);
      stat_m[lid] = r.x;
      stat_s[lid] = r.y;
    }
    workgroupBarrier();
  }
  return vec2f(stat_m[0], stat_s[0]);
}
