import assert from "node:assert/strict";
import { modelConfig } from "@blockdiff/model/io";
import { Dit, ParamSet } from "@blockdiff/model";
import { gpuTest } from "@blockdiff/core/testing";
import {
  DEFAULT_PYTHON,
  type PeerResult,
  type PeerSkipped,
  probePytorch,
  runPytorchPeer,
} from "./pytorch_peer.ts";

/** Probed once, before the tests are registered: without PyTorch they are reported ignored. */
const hasTorch = !("skipped" in await probePytorch(DEFAULT_PYTHON));

Deno.test({
  name: "sample_torch.py --self-check: KV-cached logits equal the recompute (float64)",
  ignore: !hasTorch,
}, async () => {
  const script = new URL("../tools/reference/sample_torch.py", import.meta.url).pathname;
  const out = await new Deno.Command(DEFAULT_PYTHON, {
    args: [script, "--self-check", "--threads", "1"],
    env: { PYTHONDONTWRITEBYTECODE: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, `${text}\n${new TextDecoder().decode(out.stderr)}`);
  const r = JSON.parse(text);
  assert.equal(r.self_check, "ok");
  assert.ok(r.max_abs_diff.bd3lm_kv_vs_recompute < 1e-10, text);
  assert.ok(r.max_abs_diff.ar_kv_vs_recompute < 1e-10, text);
  // runs_ok also has "mkldnn" (oneDNN vs torch's matmuls) where torch has oneDNN.
  assert.ok(Object.values(r.runs_ok).every((ok) => ok === true), text);
  assert.deepEqual([r.runs_ok.bd3lm, r.runs_ok.ar, r.runs_ok.mdlm], [true, true, true]);
});

gpuTest(
  "the PyTorch peer samples micro models: BD3-LM L'=4 with and without cache, AR",
  async (_t, gpu) => {
    const batch = 2, generate = 8, prompt = [5, 6, 7, 8, 9, 10, 11, 12, 13];
    const micro = (algo: "bd3lm" | "ar" | "mdlm", blockSize: number) =>
      modelConfig({ size: "micro", algo, vocab: 64, length: 32, blockSize, dropout: 0 });
    using bd3 = ParamSet.init(gpu, micro("bd3lm", 4), 3);
    using bd3Model = new Dit(gpu, bd3);
    using ar = ParamSet.init(gpu, micro("ar", 32), 4);
    const mdlm = { config: micro("mdlm", 32), tensors: await bd3.toHost() };
    const common = { batch, promptIds: prompt, generate, threads: 2, seed: 1 };
    // The scripts run at once: each spends most of its time importing torch. The self-check
    // above covers the AR recompute path and MDLM.
    const [bdKv, bdWindow, arKv, bad] = await Promise.all([
      runPytorchPeer({ ...common, model: bd3Model, algo: "bd3lm", blockSize: 4, kvCache: true }),
      runPytorchPeer({ ...common, model: bd3, algo: "bd3lm", blockSize: 4, kvCache: false }),
      runPytorchPeer({ ...common, model: ar, algo: "ar", blockSize: 1, kvCache: true }),
      // An MDLM row longer than the model: the script refuses it (one line, exit 2).
      runPytorchPeer({
        ...common,
        model: mdlm,
        algo: "mdlm",
        blockSize: 32,
        kvCache: false,
        generate: 40,
      }),
    ]);
    const check = (r: PeerResult | PeerSkipped, nfe: number, commits: number, passes: number) => {
      assert.ok(!("skipped" in r), "skipped" in r ? r.skipped : "");
      assert.equal(r.generated, batch * generate);
      assert.equal(r.nfe, nfe);
      assert.equal(r.commits, commits);
      assert.equal(r.passes, passes);
      assert.equal(r.prefix, prompt.length + 1);
      assert.ok(r.tokens_per_s > 0 && Number.isFinite(r.tokens_per_s), JSON.stringify(r));
      assert.ok(r.seconds > 0 && r.prefill_seconds >= 0 && r.prefill_seconds <= r.seconds);
      assert.ok(["mkldnn", "torch"].includes(r.matmul), r.matmul);
      assert.equal(r.threads, 2);
      assert.equal(r.dtype, "float32");
      assert.equal(r.device, "cpu");
      assert.match(r.torch, /^\d+\.\d+/);
    };
    // BD3-LM: BOS + 9 prompt tokens = 10: the two full chunks [0, 8) are committed (cached: in
    // one prefill pass), the tail (2 tokens) opens block [8, 12), then [12, 16) and [16, 18);
    // one call per masked token; every block but the last is committed.
    check(bdKv, generate, 3, generate + 3);
    check(bdWindow, generate, 4, generate);
    // AR: NFE = one call for the prompt (cached: one prefill pass), then one per token but the
    // last.
    check(arKv, generate, 0, generate);
    assert.ok("skipped" in bad);
    assert.match(
      bad.skipped,
      /^sample_torch\.py failed \(exit 2\): sample_torch\.py: mdlm .*model length 32$/,
    );
  },
  { ignore: !hasTorch },
);

Deno.test("the PyTorch peer reports a missing interpreter as skipped", async () => {
  const config = modelConfig({ size: "micro", algo: "bd3lm", vocab: 16, length: 8, blockSize: 4 });
  const r = await runPytorchPeer({
    model: { config, tensors: new Map() },
    algo: "bd3lm",
    blockSize: 4,
    batch: 1,
    promptIds: [],
    generate: 4,
    kvCache: true,
    python: "/nonexistent/python3",
  });
  assert.ok("skipped" in r);
  assert.match(r.skipped, /python3 not found.*python3-torch/);
});
