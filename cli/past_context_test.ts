/**
 * Sampling past the model's context from the command line and the server, with the bundled
 * model (context 128, trained block size 4): block sizes 8 and 16 and the adaptive policy, with a
 * prompt whose length is no multiple of the block (BOS + "The jury said" is 5 BPE tokens). The window
 * must slide by whole blocks, so no block straddles the cache's end.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { gpuTest } from "@blockdiff/core/testing";
import { createApp } from "@blockdiff/web";
import { BUNDLED_MODEL, readModel } from "./model.ts";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));
const MODELS = fileURLToPath(new URL("../models/", import.meta.url));
/** BOS + the prompt's tokens under the bundled model's tokenizer. */
const PREFIX = 1 + (await readModel(BUNDLED_MODEL)).tokenizer.encode("The jury said").length;
const POLICIES: [string, string[], number | "adaptive"][] = [
  ["L′ = 8", ["--block-size", "8"], 8],
  ["L′ = 16", ["--block-size", "16"], 16],
  ["adaptive {4, 8, 16}", ["--adaptive", "4,8,16"], "adaptive"],
];

gpuTest("sample past the context: bd3 sample and the server", async (t, gpu) => {
  for (const [name, flags] of POLICIES) {
    await t.step(`bd3 sample, ${name}`, async () => {
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          MAIN,
          "sample",
          "--prompt",
          "The jury said",
          "--length",
          "200",
          "--stop",
          "none",
          "--json",
          ...flags,
        ],
        env: { NO_COLOR: "1", BLOCKDIFF_TUNE: "0" },
      }).output();
      const err = new TextDecoder().decode(stderr);
      assert.equal(code, 0, err);
      const report = JSON.parse(new TextDecoder().decode(stdout));
      const row = report.samples[0];
      assert.equal(row.tokens, 200 - PREFIX, JSON.stringify(row)); // generated tokens
      assert.ok(row.text.startsWith("The jury said"));
    });
  }
  const app = createApp({ gpu, models: MODELS, appJs: "/* test */" });
  for (const [name, , blockSize] of POLICIES) {
    await t.step(`POST /api/generate, ${name}`, async () => {
      const r = await app.request("/api/generate", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          model: "bundled",
          prompt: "The jury said",
          length: 200,
          blockSize,
          stopAtEos: false,
          entropyStop: false,
          stream: false,
        }),
      });
      const text = await r.text();
      assert.equal(r.status, 200, text);
      const done = JSON.parse(text);
      assert.equal(done.generated, 200 - PREFIX, text);
      assert.ok(done.text.startsWith("The jury said"));
    });
  }
});
