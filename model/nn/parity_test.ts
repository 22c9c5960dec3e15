/**
 * Parity with the PyTorch implementation in tools/reference (float64, written independently
 * from the reference's equations): Hugging Face-layout fixtures made there load here and give
 * the same logits and losses, and a checkpoint exported here runs there.
 */
import assert from "node:assert/strict";
import { assertClose, gpuTest } from "@blockdiff/core/testing";
import { Tensor } from "@blockdiff/core";
import { loadHfCheckpoint, saveHfCheckpoint } from "../deno.ts";
import { ParamSet } from "./params.ts";
import { Dit } from "./dit.ts";
import { newGraph } from "./graph.ts";
import { tokenLoss } from "./ops.ts";

const DATA = new URL("./testdata/", import.meta.url);
/** The reference interpreter; the export test needs its PyTorch (Debian python3-torch). */
const py = "/usr/bin/python3";
/** Probed once, before the tests are registered: without PyTorch the export test is ignored. */
const hasTorch = await new Deno.Command(py, { args: ["-c", "import torch"], stderr: "null" })
  .output()
  .then((r) => r.success, () => false);

interface Expected {
  batch: number;
  length: number;
  mask_id: number;
  x0: number[];
  xt?: number[];
  t?: number[];
  sigma?: number[];
  loss?: number;
  eval_loss?: number;
  [k: string]: unknown;
}

async function fixture(algo: string) {
  const dir = new URL(`${algo}/`, DATA).pathname;
  const ckpt = await loadHfCheckpoint(dir, { algo: algo as "bd3lm" });
  const expected = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`)) as Expected;
  return { dir, ckpt, expected };
}

gpuTest(
  "parity: HF-layout fixtures from the PyTorch reference give the same logits",
  async (t, gpu) => {
    for (const algo of ["bd3lm", "mdlm", "sedd", "ar"]) {
      await t.step(algo, async () => {
        const { ckpt, expected: e } = await fixture(algo);
        using params = ParamSet.fromHost(gpu, ckpt.config, ckpt.tensors);
        using model = new Dit(gpu, params);
        const B = e.batch, L = e.length;
        using g = newGraph(gpu, { grad: false });
        const ids = (xs: number[], shape: number[]) => g.keep(Tensor.from(gpu, xs, shape, "i32"));
        if (algo === "bd3lm") {
          const both: number[] = [];
          for (let b = 0; b < B; b++) {
            both.push(...e.xt!.slice(b * L, (b + 1) * L), ...e.x0.slice(b * L, (b + 1) * L));
          }
          const logits = model.forward(g, { ids: ids(both, [B, 2 * L]) }, { kind: "bdTrain" });
          assertClose(
            await logits.value.readFloat(),
            e.logits_bdtrain as number[],
            1e-4,
            "bdTrain logits",
          );
          const bs = ckpt.config.blockSize;
          const win: number[] = [];
          for (let b = 0; b < B; b++) {
            win.push(
              ...e.x0.slice(b * L, b * L + 2 * bs),
              ...e.xt!.slice(b * L + 2 * bs, b * L + 3 * bs),
            );
          }
          const wl = model.forward(g, { ids: ids(win, [B, 3 * bs]) }, {
            kind: "blockCausal",
            blockSize: bs,
          });
          assertClose(
            await wl.value.readFloat(),
            e.logits_blockcausal as number[],
            1e-4,
            "block-causal window logits",
          );
          // The same block through the KV cache: commit the two clean blocks, then the noisy one.
          const caches = model.createCaches(B, L);
          const block = (src: number[], j: number) => {
            const out: number[] = [];
            for (let i = 0; i < B; i++) {
              out.push(...src.slice(i * L + j * bs, i * L + (j + 1) * bs));
            }
            return ids(out, [B, bs]);
          };
          model.forwardCached(g, block(e.x0, 0), caches, { commit: true });
          model.forwardCached(g, block(e.x0, 1), caches, { commit: true });
          const cl = model.forwardCached(g, block(e.xt!, 2), caches);
          assertClose(
            await cl.value.readFloat(),
            e.logits_cached_block2 as number[],
            1e-4,
            "KV-cached logits",
          );
          for (const c of caches) c.dispose();
        } else if (algo === "ar") {
          const inp: number[] = [];
          for (let b = 0; b < B; b++) inp.push(...e.x0.slice(b * L, (b + 1) * L - 1));
          const logits = model.forward(g, { ids: ids(inp, [B, L - 1]) }, { kind: "causal" });
          assertClose(
            await logits.value.readFloat(),
            e.logits_causal as number[],
            1e-4,
            "causal logits",
          );
        } else {
          const sigma = e.sigma ? g.keep(Tensor.from(gpu, e.sigma, [B])) : null;
          const logits = model.forward(g, { ids: ids(e.xt!, [B, L]), sigma }, { kind: "full" });
          assertClose(
            await logits.value.readFloat(),
            e.logits_full as number[],
            1e-4,
            "full logits",
          );
        }
      });
    }
  },
);

gpuTest("parity: the loss for fixed t and masks matches the reference", async (t, gpu) => {
  for (const algo of ["bd3lm", "mdlm"]) {
    await t.step(algo, async () => {
      const { ckpt, expected: e } = await fixture(algo);
      using params = ParamSet.fromHost(gpu, ckpt.config, ckpt.tensors);
      using model = new Dit(gpu, params);
      const B = e.batch, L = e.length, V = ckpt.config.vocab;
      const b = ckpt.config.blockSize;
      for (const evalMode of [false, true]) {
        using g = newGraph(gpu, { grad: false });
        const both: number[] = [];
        for (let i = 0; i < B; i++) {
          if (algo === "bd3lm") {
            both.push(...e.xt!.slice(i * L, (i + 1) * L), ...e.x0.slice(i * L, (i + 1) * L));
          } else both.push(...e.xt!.slice(i * L, (i + 1) * L));
        }
        const logits = model.forward(g, {
          ids: g.keep(Tensor.from(gpu, both, [B, both.length / B], "i32")),
        }, {
          kind: algo === "bd3lm" ? "bdTrain" : "full",
        });
        const targets: number[] = [], weights: number[] = [];
        const counted = evalMode ? B * (L - 1) : B * L;
        for (let i = 0; i < B * L; i++) {
          const bos = evalMode && i % L === 0;
          const masked = e.xt![i] === e.mask_id && !bos;
          targets.push(masked ? e.x0[i] : -1);
          const tt = e.t![Math.floor(i / L) * (L / b) + Math.floor((i % L) / b)];
          weights.push(bos ? 0 : 1 / tt / counted);
        }
        const flat = g.wrap(logits.value.reshape([B * L, V]), false);
        const { total } = tokenLoss(g, flat, {
          kind: "subs",
          targets: g.keep(Tensor.from(gpu, targets, [B * L], "i32")),
          maskId: e.mask_id,
        }, g.keep(Tensor.from(gpu, weights, [B * L])));
        const got = (await total.value.readFloat())[0];
        const want = evalMode ? e.eval_loss! : e.loss!;
        assert.ok(Math.abs(got - want) / Math.abs(want) < 1e-4, `${algo} loss ${got} vs ${want}`);
      }
    });
  }
});

gpuTest(
  "parity: a checkpoint exported here runs in PyTorch with the same logits",
  async (_t, gpu) => {
    const { ckpt, expected: e } = await fixture("bd3lm");
    using params = ParamSet.fromHost(gpu, ckpt.config, ckpt.tensors);
    using model = new Dit(gpu, params);
    const dir = await Deno.makeTempDir();
    await saveHfCheckpoint(dir, ckpt.config, await params.toHost());
    const B = e.batch, L = e.length;
    const both: number[] = [];
    for (let b = 0; b < B; b++) {
      both.push(
        ...e.xt!.slice(b * L, (b + 1) * L),
        ...e.x0.slice(b * L, (b + 1) * L),
      );
    }
    await Deno.writeTextFile(
      `${dir}/inputs.json`,
      JSON.stringify({ ids: both, batch: B, mode: "bdTrain" }),
    );
    const script = new URL("../../tools/reference/make_fixtures.py", import.meta.url).pathname;
    const out = await new Deno.Command(py, {
      args: [script, "check", dir, `${dir}/inputs.json`],
      stderr: "piped",
    })
      .output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const theirs = JSON.parse(new TextDecoder().decode(out.stdout)).logits as number[];
    using g = newGraph(gpu, { grad: false });
    const ours = model.forward(g, { ids: g.keep(Tensor.from(gpu, both, [B, 2 * L], "i32")) }, {
      kind: "bdTrain",
    });
    assertClose(await ours.value.readFloat(), theirs, 1e-4, "exported checkpoint in PyTorch");
    await Deno.remove(dir, { recursive: true });
  },
  { ignore: !hasTorch },
);
