/**
 * `bd3 train` on user data: a Parquet file (the Hugging Face copies of LM1B, OWT, … are Parquet)
 * and a JSONL file made here, with --text-field, end to end through the CLI.
 */
import assert from "node:assert/strict";
import { MICRO_MODEL_ARGS } from "./testing.ts";
import { join } from "node:path";
import { parquetWriteBuffer } from "hyparquet-writer";

const MAIN = new URL("./main.ts", import.meta.url).pathname;
const SENTENCES = [
  "A block diffusion model writes text one block at a time.",
  "Inside each block, masked tokens are denoised in parallel.",
  "The key and value cache makes every new block cheap to start.",
  "Short blocks behave like an autoregressive model; long ones like MDLM.",
];

async function train(dataPath: string, out: string, extra: string[] = []) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "train",
      "--data",
      dataPath,
      "--text-field",
      "body",
      ...MICRO_MODEL_ARGS,
      "--block-size",
      "4",
      "--batch",
      "2",
      "--steps",
      "3",
      "--warmup",
      "1",
      "--out",
      out,
      "--json",
      ...extra,
    ],
    env: { NO_COLOR: "1", BLOCKDIFF_CACHE: join(out, "cache"), BLOCKDIFF_TUNE: "0" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: r.code,
    stdout: new TextDecoder().decode(r.stdout),
    stderr: new TextDecoder().decode(r.stderr),
  };
}

Deno.test({
  name: "bd3 train reads Parquet and JSONL files with --text-field",
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir();
    const docs = Array.from({ length: 300 }, (_, i) => SENTENCES[i % 4] + ` (${i})`);
    await t.step("parquet", async () => {
      const path = join(dir, "train.parquet");
      await Deno.writeFile(
        path,
        new Uint8Array(
          parquetWriteBuffer({ columnData: [{ name: "body", data: docs, type: "STRING" }] }),
        ),
      );
      const r = await train(path, join(dir, "pq"));
      assert.equal(r.code, 0, r.stderr);
      // Training rows; the last step also has a validation row ({step, valLoss}).
      const steps = r.stdout.trim().split("\n").map((l) => JSON.parse(l)).filter((m) =>
        "loss" in m
      );
      assert.equal(steps.length, 3);
      assert.ok(steps.every((s) => Number.isFinite(s.loss)));
      assert.ok((await Deno.stat(join(dir, "pq", "model", "config.json"))).isFile);
    });
    await t.step("jsonl", async () => {
      const path = join(dir, "train.jsonl");
      await Deno.writeTextFile(
        path,
        docs.map((body) => JSON.stringify({ body })).join("\n") + "\n",
      );
      const r = await train(path, join(dir, "jl"));
      assert.equal(r.code, 0, r.stderr);
    });
    await t.step("a missing text field is a one-line error", async () => {
      const path = join(dir, "bad.jsonl");
      await Deno.writeTextFile(
        path,
        docs.map((text) => JSON.stringify({ text })).join("\n") + "\n",
      );
      const r = await train(path, join(dir, "bad"));
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /body/);
      assert.doesNotMatch(r.stderr, /\n\s+at .*\.ts:\d+/);
    });
    await Deno.remove(dir, { recursive: true });
  },
});
