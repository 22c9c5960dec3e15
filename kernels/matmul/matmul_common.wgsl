// Shared by every matmul variant (the launcher appends it to each variant's source; WGSL
// declarations are order-independent, so a variant's `enable` line can stay first). The
// inputs `a` (binding 0) and `b` (binding 1) are declared by the variant (scalar f32 in
// matmul_inputs.wgsl, or vec4 loads in the row-dot GEMV kernels).
//
// C[z, m, N0 + n] = epilogue(sum_k A(z, m, k) * B(z, k, n)) for m < M, n < NC, where
//   A(z, m, k) = a[z*strideA + (TRANS_A ? k*M + m : m*K + k)]
//   B(z, k, n) = b[z*strideB + (TRANS_B ? n*K + k : k*NC + n)]
// The N axis may be split into chunks whose B rows are bound at an offset (large vocab
// projections exceed one storage binding): NC is the chunk's width, N0 its first column and
// N the full row stride of C and the bias. (Only a transposed 2-D B is ever split, so
// NC = N whenever B is row-major.)
struct Params {
  M: u32, N: u32, K: u32, NC: u32,
  N0: u32, strideA: u32, strideB: u32, strideC: u32,
}

@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

fn aIndex(z: u32, m: u32, k: u32) -> u32 {
  if (TRANS_A) { return z * p.strideA + k * p.M + m; }
  return z * p.strideA + m * p.K + k;
}

fn bIndex(z: u32, k: u32, n: u32) -> u32 {
  if (TRANS_B) { return z * p.strideB + n * p.K + k; }
  return z * p.strideB + k * p.NC + n;
}

// Bias, then tanh-GELU. The tanh argument is clamped because some drivers compute tanh
// through exp and return NaN once exp overflows; tanh(±15) is ±1 in f32 anyway.
fn epilogue(v: f32, n: u32) -> f32 {
  var x = v;
  if (HAS_BIAS) { x += bias[p.N0 + n]; }
  if (GELU) {
    let u = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0);
    x = 0.5 * x * (1.0 + tanh(u));
  }
  return x;
}

// Writes one output element (chunk-relative column n); callers check m < M and n < NC.
fn store(z: u32, m: u32, n: u32, v: f32) {
  c[z * p.strideC + m * p.N + p.N0 + n] = epilogue(v, n);
}
