/**
 * Float64 reference of `matmul`: C = op(A)·op(B) (+ bias) (then tanh-GELU), batched.
 * @module
 */

/** Shapes and options of one reference matmul (all arrays flattened, row-major). */
export interface MatmulRefArgs {
  batch: number;
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  /** B has a batch dimension (else one B is shared by every batch entry). */
  batchedB?: boolean;
  bias?: ArrayLike<number> | null;
  gelu?: boolean;
}

/** tanh-GELU: 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))). */
export function geluRef(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

/** A: [batch, M, K] ([batch, K, M] when transA); B: [(batch,) K, N] ([(batch,) N, K] when transB). */
export function matmulRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  args: MatmulRefArgs,
): Float64Array {
  const { batch, m, n, k } = args;
  const out = new Float64Array(batch * m * n);
  for (let z = 0; z < batch; z++) {
    const ao = z * m * k;
    const bo = args.batchedB ? z * k * n : 0;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const av = a[ao + (args.transA ? p * m + i : i * k + p)];
          const bv = b[bo + (args.transB ? j * k + p : p * n + j)];
          s += av * bv;
        }
        if (args.bias) s += args.bias[j];
        out[(z * m + i) * n + j] = args.gelu ? geluRef(s) : s;
      }
    }
  }
  return out;
}
