// Sampling of one token id per row of logits, on the device (docs/design.md, "Device draw record"),
// so a sampler reads back a few words per row instead of V probabilities. One workgroup of WG lanes
// per row.
//
// Row r of the output reads logits row (r / count)·seq + first + r % count (a window of
// `count` rows out of every `seq`), i.e. x[base + i] for i < n with base = that row · n.
//
// With e_i = exp((x_i − m)·inv_t) (m the largest logit outside the mask column; the mask column
// weighs 0) and Z = Σ e_i, the unfiltered distribution is p_i = e_i / Z. Steps:
//   1. m and the arg-max (lowest index on ties), by a strided lane scan and a tree.
//   2. S₁ = Σ_{i ≠ argmax} e_i and W = Σ e_i·(−y_i), y_i = (x_i − m)·inv_t ≤ 0, so Z = 1 + S₁,
//      max p = 1/Z and H = −Σ p log p = log1p(S₁) + W/Z: two sums of non-negative terms, no
//      cancellation, and log1p is taken by a series for small S₁ (peaked rows keep their
//      relative accuracy).
//   3. Nucleus (top_p < 1; probabilities.ts `nucleusRow`): sorted descending, the kept tokens
//      are the longest prefix whose mass is ≤ top_p (at least the top-1), ties at the cut keep
//      the lowest ids. With G(t) = Σ_{e_i ≥ t} e_i (non-increasing in t, also in f32: a larger
//      t sums the same terms in the same order with some replaced by 0), the whole value
//      groups kept are {e ≥ t_hi}, t_hi the smallest weight value with G(t_hi) ≤ top_p·Z; the
//      next smaller value x_tie is the group that crosses, of which the first
//      k = ⌊(top_p·Z − G(t_hi)) / x_tie⌋ copies in index order fit (k ≥ 1 when nothing else is
//      kept). Search: a bracket [lo, hi) of f32 bit patterns, G(lo) > top_p·Z ≥ G(hi), starts
//      at [just below the smallest positive weight, 2.0); each pass over the row evaluates G
//      at 8 thresholds spread over it (a 9-way split), summing only the columns inside the
//      bracket (G(t) = G(hi) + their part ≥ t) and counting them; columns far outside are
//      recognised from y without exp. Once at most WG columns remain inside (after 1–5 passes
//      on a 50k vocabulary, at once for V ≤ WG), they are gathered into workgroup memory and
//      every lane evaluates G at one of them, which settles t_hi and x_tie exactly; if one
//      value fills the bracket with more than WG copies, the search runs down to adjacent bit
//      patterns, t_hi = hi and x_tie = lo.
//   4. Inverse-CDF draw in index order over the kept weights: lane l owns the contiguous
//      columns [l·seg, (l+1)·seg); a scan of the lanes' kept-tie counts ranks the ties, a scan
//      of the lanes' kept masses gives the CDF at segment ends, the first lane whose segment
//      end exceeds u·Z_kept walks its segment to the first column whose running mass does.
//
// Output: out is i32 [5, rows], planar: token, argmax, then the f32 bit patterns of p(token)
// under the filtered renormalised distribution, the entropy (nats) and the max probability of
// the unfiltered one.
struct Params {
  rows: u32,
  n: u32,
  seq: u32,
  first: u32,
  count: u32,
  mask_col: i32,
  inv_t: f32,
  greedy: u32,
  top_p: f32,
  max_passes: u32,
  neg_inf: f32,
  wg: u32, // = WG: the bound of the lane loops with barriers (a constant bound is unrolled)
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> us: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<i32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> wa: array<vec4f, WG>;
var<workgroup> wb: array<vec4f, WG>;
var<workgroup> wf: array<f32, WG>;
var<workgroup> wi: array<u32, WG>;
var<workgroup> sh_lo: u32;
var<workgroup> sh_hi: u32;
var<workgroup> sh_mass: f32;
var<workgroup> sh_count: u32;
// The gather step: columns gathered, bits of the smallest passing and largest failing value,
// bits of G at the smallest passing value (positive f32 order as their bit patterns).
var<workgroup> sh_gathered: atomic<u32>;
var<workgroup> sh_pass: atomic<u32>;
var<workgroup> sh_fail: atomic<u32>;
var<workgroup> sh_g: atomic<u32>;
// The draw: the first lane whose segment holds the crossing, and 1 + the last kept column.
var<workgroup> sh_owner: atomic<u32>;
var<workgroup> sh_last: atomic<u32>;

// y_i = (x_i − m)·inv_t of column i of the row at base.
fn y_of(base: u32, i: u32, m: f32) -> f32 {
  return (x[base + i] - m) * p.inv_t;
}

// Weight e_i = exp(y_i) of column i (0 for the mask column and −inf logits). Every pass computes
// it by this same expression, so a column's weight is the same bits in all of them.
fn weight(y: f32, i: u32) -> f32 {
  return select(exp(y), 0.0, i32(i) == p.mask_col);
}

// Margin, in y, past which exp(y) is surely on one side of a threshold (exp and log are
// accurate to far better than 1%).
const Y_MARGIN = 0.01;

// A y below which exp(y) < t for sure (−inf when t is 0 or tiny: nothing is passed over).
fn y_below(t: f32) -> f32 {
  if (t < 1e-30) { return p.neg_inf; }
  return log(t) - Y_MARGIN;
}

// A y above which exp(y) ≥ t for sure (+inf when t is 0 or tiny).
fn y_above(t: f32) -> f32 {
  if (t < 1e-30) { return -p.neg_inf; }
  return log(t) + Y_MARGIN;
}

// log(1 + s) for s ≥ 0, accurate relative to the result also for tiny s: 2·atanh(w) with
// w = s / (2 + s) ≤ 1/5 by its series (error < w^17 / 17 · 2 < 1e-12) up to s = 0.5, else log.
fn log1p_pos(s: f32) -> f32 {
  if (s > 0.5) { return log(1.0 + s); }
  let w = s / (2.0 + s);
  let w2 = w * w;
  let q = 1.0 + w2 * (1.0 / 3.0 + w2 * (1.0 / 5.0 + w2 * (1.0 / 7.0 + w2 * (1.0 / 9.0 +
    w2 * (1.0 / 11.0 + w2 * (1.0 / 13.0 + w2 * (1.0 / 15.0)))))));
  return 2.0 * w * q;
}

// Inclusive scan of wf over the lanes (Hillis–Steele); every lane must call it.
fn scan_f32(lid: u32) {
  for (var d = 1u; d < p.wg; d <<= 1u) {
    var add = 0.0;
    if (lid >= d) { add = wf[lid - d]; }
    workgroupBarrier();
    wf[lid] += add;
    workgroupBarrier();
  }
}

// Inclusive scan of wi over the lanes; every lane must call it.
fn scan_u32(lid: u32) {
  for (var d = 1u; d < p.wg; d <<= 1u) {
    var add = 0u;
    if (lid >= d) { add = wi[lid - d]; }
    workgroupBarrier();
    wi[lid] += add;
    workgroupBarrier();
  }
}

// Tree sum of wa and wb over the lanes; the totals end in wa[0], wb[0].
fn reduce_ab(lid: u32) {
  workgroupBarrier();
  for (var k = p.wg / 2u; k > 0u; k >>= 1u) {
    if (lid < k) {
      wa[lid] += wa[lid + k];
      wb[lid] += wb[lid + k];
    }
    workgroupBarrier();
  }
}

// Is column i (weight e, tie rank `rank` if e is the crossing value) in the nucleus?
fn kept(e: f32, t_hi: f32, x_tie: f32, rank: u32, k: u32) -> bool {
  return e > 0.0 && (e >= t_hi || (e == x_tie && rank < k));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let src = (row / p.count) * p.seq + p.first + row % p.count;
  let base = src * p.n;
  let R = p.rows;

  // 1. Max logit and its lowest index, outside the mask column.
  var m = p.neg_inf;
  var am = p.n;
  for (var i = lid; i < p.n; i += WG) {
    let v = x[base + i];
    if (v > m && i32(i) != p.mask_col) {
      m = v;
      am = i;
    }
  }
  wf[lid] = m;
  wi[lid] = am;
  workgroupBarrier();
  for (var k = p.wg / 2u; k > 0u; k >>= 1u) {
    if (lid < k) {
      let m2 = wf[lid + k];
      let a2 = wi[lid + k];
      if (m2 > wf[lid] || (m2 == wf[lid] && a2 < wi[lid])) {
        wf[lid] = m2;
        wi[lid] = a2;
      }
    }
    workgroupBarrier();
  }
  m = wf[0];
  am = wi[0];
  if (lid == 0u) { out[R + row] = i32(am); }
  if (p.greedy != 0u) {
    // Temperature 0: a one-hot on the arg-max.
    if (lid == 0u) {
      out[row] = i32(am);
      out[2u * R + row] = bitcast<i32>(1.0);
      out[3u * R + row] = bitcast<i32>(0.0);
      out[4u * R + row] = bitcast<i32>(1.0);
    }
    return;
  }

  // 2. Z − 1 and W, hence entropy and max probability.
  // Also the smallest positive weight (1, the arg-max's, if no other), where the nucleus search
  // starts.
  var s1 = 0.0;
  var w = 0.0;
  var e_min = 1.0;
  for (var i = lid; i < p.n; i += WG) {
    if (i == am) { continue; }
    let y = y_of(base, i, m);
    let e = weight(y, i);
    s1 += e;
    if (e > 0.0) {
      w -= e * y;
      e_min = min(e_min, e);
    }
  }
  wa[lid] = vec4f(s1, w, e_min, 0.0);
  workgroupBarrier();
  for (var k = p.wg / 2u; k > 0u; k >>= 1u) {
    if (lid < k) {
      let a = wa[lid];
      let b = wa[lid + k];
      wa[lid] = vec4f(a.xy + b.xy, min(a.z, b.z), 0.0);
    }
    workgroupBarrier();
  }
  let sums = workgroupUniformLoad(&wa[0]);
  let z = 1.0 + sums.x;
  if (lid == 0u) {
    out[3u * R + row] = bitcast<i32>(log1p_pos(sums.x) + sums.y / z);
    out[4u * R + row] = bitcast<i32>(1.0 / z);
  }

  // 3. Nucleus threshold: t_hi (whole groups kept), x_tie (crossing group), k (its copies kept).
  var t_hi = 0.0;
  var x_tie = -1.0;
  var k_tie = 0u;
  if (p.top_p < 1.0) {
    let goal_p = p.top_p * z;
    if (lid == 0u) {
      sh_lo = bitcast<u32>(sums.z) - 1u; // just below every positive weight: G(lo) = Z
      sh_hi = 0x40000000u; // 2.0: above every weight
      sh_mass = 0.0;
      sh_count = p.n; // columns in [lo, hi): at most all
    }
    var passes = 0u;
    loop {
      let lo = workgroupUniformLoad(&sh_lo);
      let hi = workgroupUniformLoad(&sh_hi);
      let count = workgroupUniformLoad(&sh_count);
      if (hi - lo <= 1u || count <= WG || passes >= p.max_passes) { break; }
      passes++;
      let step = max((hi - lo + 8u) / 9u, 1u);
      let ia = min(vec4u(lo) + vec4u(1u, 2u, 3u, 4u) * step, vec4u(hi));
      let ib = min(vec4u(lo) + vec4u(5u, 6u, 7u, 8u) * step, vec4u(hi));
      let ta = bitcast<vec4f>(ia);
      let tb = bitcast<vec4f>(ib);
      let lo_f = bitcast<f32>(lo);
      let hi_f = bitcast<f32>(hi);
      // Only columns with lo ≤ e < hi (and e > 0) are summed, G(t) = G(hi) + their part ≥ t,
      // and counted; the others are told apart by y alone, without exp, away from the ends.
      let y_lo = y_below(lo_f);
      let y_hi = y_above(hi_f);
      var ga = vec4f(0.0);
      var gb = vec4f(0.0);
      var ca = vec4f(0.0);
      var cb = vec4f(0.0);
      for (var i = lid; i < p.n; i += WG) {
        let y = y_of(base, i, m);
        if (y < y_lo || y > y_hi) { continue; }
        let e = weight(y, i);
        if (e < lo_f || e >= hi_f || e == 0.0) { continue; }
        let ev = vec4f(e);
        let qa = ev >= ta;
        let qb = ev >= tb;
        ga += select(vec4f(0.0), ev, qa);
        gb += select(vec4f(0.0), ev, qb);
        ca += select(vec4f(0.0), vec4f(1.0), qa);
        cb += select(vec4f(0.0), vec4f(1.0), qb);
      }
      // Masses, then counts (exact in f32 below 2^24), through the same workgroup arrays.
      wa[lid] = ga;
      wb[lid] = gb;
      reduce_ab(lid);
      let ga_all = vec4f(sh_mass) + wa[0];
      let gb_all = vec4f(sh_mass) + wb[0];
      workgroupBarrier();
      wa[lid] = ca;
      wb[lid] = cb;
      reduce_ab(lid);
      if (lid == 0u) {
        // G is non-increasing in t: the new bracket is [last failing, first passing).
        let qa = ga_all <= vec4f(goal_p);
        let qb = gb_all <= vec4f(goal_p);
        let ha = min(select(vec4u(hi), ia, qa), select(vec4u(hi), ib, qb));
        let la = max(select(ia, vec4u(lo), qa), select(ib, vec4u(lo), qb));
        let nhi = min(min(ha.x, ha.y), min(ha.z, ha.w));
        let nlo = max(max(la.x, la.y), max(la.z, la.w));
        let ma = max(select(vec4f(0.0), ga_all, qa & (ia == vec4u(nhi))),
          select(vec4f(0.0), gb_all, qb & (ib == vec4u(nhi))));
        let c_hi = max(select(vec4f(0.0), wa[0], ia == vec4u(nhi)),
          select(vec4f(0.0), wb[0], ib == vec4u(nhi)));
        let c_lo = max(select(vec4f(0.0), wa[0], ia == vec4u(nlo)),
          select(vec4f(0.0), wb[0], ib == vec4u(nlo)));
        var above = 0u;
        if (nhi < hi) {
          sh_hi = nhi;
          sh_mass = max(max(ma.x, ma.y), max(ma.z, ma.w));
          above = u32(max(max(c_hi.x, c_hi.y), max(c_hi.z, c_hi.w)));
        }
        var from_lo = count;
        if (nlo > lo) { from_lo = u32(max(max(c_lo.x, c_lo.y), max(c_lo.z, c_lo.w))); }
        sh_lo = nlo;
        sh_count = from_lo - min(above, from_lo);
      }
    }
    let count = workgroupUniformLoad(&sh_count);
    if (count <= WG) {
      // Few columns left in [lo, hi): gather their weights and settle the cut exactly. A value
      // v passes if G(v) = G(hi) + Σ_{gathered w ≥ v} w ≤ top_p·Z.
      let lo_f = bitcast<f32>(sh_lo);
      let hi_f = bitcast<f32>(sh_hi);
      let a = sh_mass;
      let y_lo = y_below(lo_f);
      let y_hi = y_above(hi_f);
      if (lid == 0u) {
        atomicStore(&sh_gathered, 0u);
        atomicStore(&sh_pass, bitcast<u32>(hi_f));
        atomicStore(&sh_fail, 0u);
        atomicStore(&sh_g, 0u);
      }
      workgroupBarrier();
      for (var i = lid; i < p.n; i += WG) {
        let y = y_of(base, i, m);
        if (y < y_lo || y > y_hi) { continue; }
        let e = weight(y, i);
        if (e < lo_f || e >= hi_f || e == 0.0) { continue; }
        let slot = atomicAdd(&sh_gathered, 1u);
        if (slot < WG) { wf[slot] = e; }
      }
      workgroupBarrier();
      let gathered = min(atomicLoad(&sh_gathered), WG);
      var g = a;
      var v = 0.0;
      if (lid < gathered) {
        v = wf[lid];
        for (var j = 0u; j < gathered; j++) {
          let w = wf[j];
          if (w >= v) { g += w; }
        }
        if (g <= goal_p) {
          atomicMin(&sh_pass, bitcast<u32>(v));
        } else {
          atomicMax(&sh_fail, bitcast<u32>(v));
        }
      }
      workgroupBarrier();
      // G at the smallest passing value (lanes holding equal values summed the same terms in
      // the same order, so they agree); G(hi) if none passes.
      let thi = atomicLoad(&sh_pass);
      if (lid < gathered && bitcast<u32>(v) == thi) { atomicMax(&sh_g, bitcast<u32>(g)); }
      workgroupBarrier();
      if (lid == 0u) {
        if (thi != bitcast<u32>(hi_f)) { sh_mass = bitcast<f32>(atomicLoad(&sh_g)); }
        sh_hi = thi;
        sh_lo = atomicLoad(&sh_fail);
      }
    }
    let lo = workgroupUniformLoad(&sh_lo);
    let hi = workgroupUniformLoad(&sh_hi);
    let mass = workgroupUniformLoad(&sh_mass);
    t_hi = bitcast<f32>(hi);
    x_tie = bitcast<f32>(lo);
    if (x_tie > 0.0) {
      let fit = floor(max(goal_p - mass, 0.0) / x_tie);
      k_tie = u32(min(fit, f32(p.n)));
    }
    if (mass == 0.0) { k_tie = max(k_tie, 1u); }
  }

  // 4. Inverse-CDF draw in index order over the kept weights. Columns whose y is clearly
  // below every kept weight are passed over without exp.
  var y_keep = y_below(t_hi);
  if (k_tie > 0u) { y_keep = y_below(x_tie); }
  let seg = (p.n + WG - 1u) / WG;
  let start = min(lid * seg, p.n);
  let end = min(start + seg, p.n);
  // Rank of this segment's first tie among the crossing group's copies.
  var tie0 = 0u;
  if (k_tie > 0u) {
    let y_tie_hi = y_above(x_tie);
    var c = 0u;
    for (var i = start; i < end; i++) {
      let y = y_of(base, i, m);
      if (y < y_keep || y > y_tie_hi) { continue; }
      if (weight(y, i) == x_tie) { c++; }
    }
    wi[lid] = c;
    workgroupBarrier();
    scan_u32(lid);
    tie0 = wi[lid] - c;
  }
  var local = 0.0;
  var last = 0u;
  var rank = tie0;
  for (var i = start; i < end; i++) {
    let y = y_of(base, i, m);
    if (y < y_keep) { continue; }
    let e = weight(y, i);
    if (kept(e, t_hi, x_tie, rank, k_tie)) {
      local += e;
      last = i + 1u;
    }
    if (e == x_tie) { rank++; }
  }
  if (lid == 0u) {
    atomicStore(&sh_owner, WG);
    atomicStore(&sh_last, 0u);
  }
  wf[lid] = local;
  workgroupBarrier();
  scan_f32(lid);
  let total = wf[WG - 1u];
  let incl = wf[lid];
  var excl = 0.0;
  if (lid > 0u) { excl = wf[lid - 1u]; }
  let goal = us[row] * total;
  if (local > 0.0 && goal < incl) { atomicMin(&sh_owner, lid); }
  atomicMax(&sh_last, last);
  workgroupBarrier();
  let owner = atomicLoad(&sh_owner);
  if (lid == owner) {
    let rem = goal - excl;
    var acc = 0.0;
    var tok = 0u;
    var r = tie0;
    for (var i = start; i < end; i++) {
      let y = y_of(base, i, m);
      if (y < y_keep) { continue; }
      let e = weight(y, i);
      if (kept(e, t_hi, x_tie, r, k_tie)) {
        acc += e;
        tok = i;
        if (acc > rem) { break; }
      }
      if (e == x_tie) { r++; }
    }
    out[row] = i32(tok);
    out[2u * R + row] = bitcast<i32>(weight(y_of(base, tok, m), tok) / total);
  } else if (owner == WG && lid == 0u) {
    // Rounding left u·Z_kept at or above the last segment end: the last kept column (none,
    // −1, only for a row without a finite logit).
    let last_kept = atomicLoad(&sh_last);
    if (last_kept == 0u) {
      out[row] = -1;
      out[2u * R + row] = bitcast<i32>(p.neg_inf - p.neg_inf);
    } else {
      let tok = last_kept - 1u;
      out[row] = i32(tok);
      out[2u * R + row] = bitcast<i32>(weight(y_of(base, tok, m), tok) / total);
    }
  }
}
