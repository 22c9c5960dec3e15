/**
 * A BPE vocabulary from `bd3 tokenizer` through training, export and sampling: the exported model
 * directory carries its own tokenizer.json, so it keeps working after the training run and the
 * original file are gone and the directory has moved.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { gpuTest } from "@blockdiff/core/testing";
import { bd3, MICRO_MODEL_ARGS } from "./testing.ts";

gpuTest("bd3 tokenizer → train → convert → sample, with the model's own tokenizer", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "bd3_bpe_" });
  try {
    const vocab = join(dir, "bpe.json"), run = join(dir, "run"), model = join(dir, "model");
    await t.step("bd3 tokenizer writes a loadable tokenizer.json", async () => {
      const r = await bd3(["tokenizer", "--vocab", "400", "--out", vocab]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /wrote .*bpe\.json: 400 ids \(mask 399\)/);
      const bad = await bd3(["tokenizer", "--vocab", "100", "--out", vocab]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--vocab/);
    });
    await t.step("train and export: the model directory holds the tokenizer", async () => {
      const args = MICRO_MODEL_ARGS.map((a) => a === "bytes" ? vocab : a);
      const r = await bd3(["train", ...args, "--batch", "2", "--steps", "2", "--out", run]);
      assert.equal(r.code, 0, r.stderr);
      const c = await bd3(["convert", "--from", run, "--to", model]);
      assert.equal(c.code, 0, c.stderr);
      const meta = JSON.parse(await Deno.readTextFile(join(model, "blockdiff.json")));
      assert.equal(meta.tokenizer, "tokenizer.json");
      assert.equal(meta.maskId, 399);
      assert.deepEqual(
        JSON.parse(await Deno.readTextFile(join(model, "tokenizer.json"))),
        JSON.parse(await Deno.readTextFile(vocab)),
      );
    });
    await t.step("the moved directory samples without the original file", async () => {
      await Deno.remove(vocab);
      await Deno.remove(run, { recursive: true });
      const moved = join(dir, "elsewhere");
      await Deno.rename(model, moved);
      const r = await bd3(["sample", "--model", moved, "--length", "16", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).samples[0].tokens, 15);
    });
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
