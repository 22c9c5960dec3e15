/**
 * End-to-end gradients: the model's backward (every op's backward kernel, chained by the tape)
 * against PyTorch autograd in float64 on the fixtures of tools/reference, for each algorithm
 * and attention mask (bdTrain, full, causal), with t and masks fixed.
 */
import assert from "node:assert/strict";
import { gpuTest, relativeError } from "@blockdiff/core/testing";
import { logLinearSigma } from "@blockdiff/schedules";
import { Tensor } from "@blockdiff/core";
import { loadHfCheckpoint, readSafetensors } from "../deno.ts";
import { zeroGrads } from "@blockdiff/core";
import { ParamSet } from "./params.ts";
import { Dit } from "./dit.ts";
import { newGraph } from "./graph.ts";
import { tokenLoss } from "./ops.ts";

const DATA = new URL("./testdata/", import.meta.url);

gpuTest("gradients of every parameter match PyTorch autograd", async (t, gpu) => {
  for (const algo of ["bd3lm", "mdlm", "ar", "sedd"] as const) {
    await t.step(algo, async () => {
      const dir = new URL(`${algo}/`, DATA).pathname;
      const ckpt = await loadHfCheckpoint(dir, { algo });
      const e = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`));
      const want = (await readSafetensors(`${dir}/grads.safetensors`)).tensors;
      using params = ParamSet.fromHost(gpu, ckpt.config, ckpt.tensors);
      using model = new Dit(gpu, params);
      const B: number = e.batch, L: number = e.length, V = ckpt.config.vocab, m: number = e.mask_id;
      const b = ckpt.config.blockSize;
      zeroGrads(params.list);
      using g = newGraph(gpu, { grad: true });
      const x0: number[] = e.x0;
      let ids: number[], mode: Parameters<Dit["forward"]>[2], rows: number;
      const targets: number[] = [], weights: number[] = [];
      if (algo === "ar") {
        ids = [];
        for (let i = 0; i < B; i++) {
          ids.push(...x0.slice(i * L, (i + 1) * L - 1));
          targets.push(...x0.slice(i * L + 1, (i + 1) * L));
        }
        rows = B * (L - 1);
        weights.push(...new Array(rows).fill(1 / rows));
        mode = { kind: "causal" };
      } else {
        const xt: number[] = e.xt;
        ids = algo === "bd3lm"
          ? Array.from(
            { length: B },
            (_, i) => [...xt.slice(i * L, (i + 1) * L), ...x0.slice(i * L, (i + 1) * L)],
          ).flat()
          : xt;
        rows = B * L;
        for (let i = 0; i < rows; i++) {
          const tt: number = e.t[Math.floor(i / L) * (L / b) + Math.floor((i % L) / b)];
          targets.push(xt[i] === m ? x0[i] : -1);
          weights.push(algo === "sedd" ? 1 / rows : 1 / tt / rows);
        }
        mode = algo === "bd3lm" ? { kind: "bdTrain" } : { kind: "full" };
      }
      const idsHost = Int32Array.from(ids);
      const sigma = algo === "sedd" ? g.keep(Tensor.from(gpu, e.sigma, [B])) : null;
      const logits = model.forward(g, {
        ids: g.keep(Tensor.from(gpu, idsHost, [B, ids.length / B], "i32")),
        idsHost,
        sigma,
      }, mode);
      const flat = g.wrap(logits.value.reshape([rows, V]), true);
      g.onBackward(() => {
        if (flat.grad) g.passGrad(logits, g.keep(flat.grad.reshape(logits.shape)));
      });
      const w = g.keep(Tensor.from(gpu, weights, [rows]));
      let loss;
      if (algo === "sedd") {
        const sig: number[] = [], dsig: number[] = [];
        for (let i = 0; i < rows; i++) {
          const tt: number = e.t[Math.floor(i / L)];
          const s = logLinearSigma(tt); // t ≤ 0.91 here: the clip at σ_max never applies
          sig.push(s);
          dsig.push(Math.expm1(s) / tt);
        }
        loss = tokenLoss(g, flat, {
          kind: "sedd",
          inputs: {
            xt: g.keep(Tensor.from(gpu, e.xt, [rows], "i32")),
            x0: g.keep(Tensor.from(gpu, x0, [rows], "i32")),
            sigma: g.keep(Tensor.from(gpu, sig, [rows])),
            dsigma: g.keep(Tensor.from(gpu, dsig, [rows])),
            maskId: m,
          },
        }, w);
      } else {
        loss = tokenLoss(g, flat, {
          kind: "subs",
          targets: g.keep(Tensor.from(gpu, targets, [rows], "i32")),
          maskId: m,
        }, w);
      }
      const lossValue = (await loss.total.value.readFloat())[0];
      assert.ok(Math.abs(lossValue - e.loss) / e.loss < 1e-4, `loss ${lossValue} vs ${e.loss}`);
      g.backward(loss.total, g.keep(Tensor.from(gpu, [1], [1])));
      let worst = 0, worstKey = "";
      for (const p of params.list) {
        const ref = want.get(p.name)!.data as Float32Array;
        const err = relativeError(await p.grad!.readFloat(), ref);
        if (err > worst) [worst, worstKey] = [err, p.name];
      }
      assert.ok(
        worst < 1e-4,
        `${algo}: worst gradient relative error ${worst.toExponential(2)} at ${worstKey}`,
      );
      console.log(
        `  ${algo}: loss ${lossValue.toFixed(6)}, worst gradient relative error ${
          worst.toExponential(2)
        } (${worstKey})`,
      );
    });
  }
});
