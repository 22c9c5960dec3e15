/**
 * Seeds for randomised checks (tests, the reliability harness): fresh on every run so that
 * repeated runs cover more inputs, and replayable through `BLOCKDIFF_SEED`.
 * @module
 */

/** A fresh seed per run (printed by `assertClose` on failure), or BLOCKDIFF_SEED to replay. */
export function freshSeed(): number {
  const env = Deno.env.get("BLOCKDIFF_SEED");
  return env ? Number(env) : Math.floor(Math.random() * 2 ** 31);
}
