/**
 * End-to-end tests of the `bd3` commands as a user runs them (subprocesses): help texts,
 * one-line usage errors with exit code 2, and a micro train → convert → sample → eval →
 * tune-schedule → demo round trip on the byte tokenizer, checking the JSON each step prints.
 * @module
 */
import assert from "node:assert/strict";
import { bd3, MICRO_MODEL_ARGS } from "./testing.ts";
import { join } from "node:path";

const BUNDLED = new URL("../models/bundled/config.json", import.meta.url).pathname;

/** Asserts a usage error: exit 2, one stderr line matching `re`, no stack. */
async function usageError(args: string[], re: RegExp): Promise<void> {
  const r = await bd3(args);
  assert.equal(r.code, 2, `${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `${args.join(" ")}: more than one line:\n${r.stderr}`);
  assert.match(lines[0], re);
}

/** Parses a command's JSON stdout (it must be exactly one JSON document). */
function json(r: { code: number; stdout: string; stderr: string }, what: string) {
  assert.equal(r.code, 0, `${what} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

const COMMANDS = [
  "info",
  "demo",
  "train",
  "convert",
  "sample",
  "eval",
  "tune-schedule",
  "bench",
  "serve",
  "runs",
  "plot",
  "reproduce",
];

Deno.test({
  name: "bd3 sample / eval / tune-schedule / demo: help and flag errors",
  sanitizeResources: false,
  async fn(t) {
    await t.step("bd3 --help lists every command", async () => {
      const r = await bd3(["--help"]);
      assert.equal(r.code, 0);
      for (const c of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${c} `, "m"));
    });
    await t.step("every command's --help has flags and examples", async () => {
      const all = await Promise.all(COMMANDS.map((c) => bd3([c, "--help"])));
      all.forEach((r, i) => {
        assert.equal(r.code, 0, `${COMMANDS[i]}: ${r.stderr}`);
        assert.match(r.stdout, /Examples:\n {2}bd3 /, COMMANDS[i]);
        assert.match(r.stdout, /--help/, COMMANDS[i]);
      });
    });
    await t.step("unknown flags: exit 2, one line, the closest flag", async () => {
      await usageError(
        ["sample", "--top_p", "0.9"],
        /unknown flag --top_p\. Did you mean --top-p\?/,
      );
      await usageError(["eval", "--scorr", "x"], /unknown flag --scorr\. Did you mean --scorer\?/);
      await usageError(
        ["tune-schedule", "--widht", "0.5"],
        /unknown flag --widht\. Did you mean --widths\?/,
      );
      await usageError(["demo", "--selftest"], /Did you mean --self-test\?/);
      await usageError(["sample", "--no-kv-cach"], /unknown flag --no-kv-cach/);
    });
    await t.step("settings that need no model", async () => {
      await usageError(["sample", "--samples", "0"], /--samples must be an integer ≥ 1/);
      await usageError(["sample", "--samples", "2", "--batch", "4"], /--batch 4 exceeds/);
      await usageError(["sample", "--length", "-3"], /--length must be an integer ≥ 1/);
      await usageError(["eval", "--split", "train"], /--split must be one of test, validation/);
      await usageError(["eval", "--plot", "x.svg"], /--plot needs --compare-block-policies/);
      await usageError(["tune-schedule", "--delta", "0"], /--delta must be a number in \(0, 1\)/);
      await usageError(["tune-schedule", "--widths", "0.5,2"], /--widths takes numbers/);
      await usageError(["demo", "--seed", "-1"], /--seed must be an integer/);
      if (!(await exists(BUNDLED))) {
        await usageError(["sample"], /give --model <dir>/);
        await usageError(["eval"], /give --model <dir>/);
      }
    });
  },
});

Deno.test({
  name: "bd3: micro train → convert → sample → eval → tune-schedule → demo",
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "bd3_cli_" });
    const run = join(dir, "run"), hf = join(dir, "hf"), ar = join(dir, "ar");
    const micro = [...MICRO_MODEL_ARGS, "--batch", "2", "--json"];
    try {
      await t.step("train a BD3-LM and an AR scorer", async () => {
        const [a, b] = await Promise.all([
          bd3(["train", ...micro, "--block-size", "4", "--steps", "4", "--out", run]),
          bd3(["train", ...micro, "--algo", "ar", "--steps", "2", "--out", ar]),
        ]);
        assert.equal(a.code, 0, a.stderr);
        assert.equal(b.code, 0, b.stderr);
      });
      await t.step("convert the run to the Hugging Face layout", async () => {
        const r = json(await bd3(["convert", "--from", run, "--to", hf, "--json"]), "convert");
        assert.equal(r.algo, "bd3lm");
        assert.equal(r.blockSize, 4);
        // The model carries how it was trained and its curves (the page's curves tab).
        const meta = JSON.parse(await Deno.readTextFile(join(hf, "blockdiff.json")));
        assert.equal(meta.training.steps, 4);
        assert.equal(meta.training.tokensSeen, 4 * 2 * 32);
        assert.ok(meta.training.adapter, JSON.stringify(meta.training));
        assert.equal(meta.training.flags.steps, 4);
        const rows = (await Deno.readTextFile(join(hf, "metrics.jsonl"))).trim().split("\n");
        assert.ok(rows.length >= 4 && rows.every((l) => JSON.parse(l).step <= 4));
      });

      await t.step("sample: impossible settings are one-line usage errors", async () => {
        const m = ["sample", "--model", hf];
        await usageError(
          [...m, "--top-p", "1.5"],
          /--top-p must be a number in \(0, 1\], got 1\.5/,
        );
        await usageError([...m, "--top-p", "0"], /--top-p must be a number in \(0, 1\]/);
        await usageError([...m, "--block-size", "5"], /--block-size 5 must divide .* 32 tokens/);
        await usageError([...m, "--adaptive", "4,6"], /--adaptive 6 must divide/);
        await usageError([...m, "--block-size", "4", "--adaptive", "4,8"], /not both/);
        await usageError([...m, "--sampler", "greedy"], /--sampler must be one of first-hitting/);
        await usageError([...m, "--stop", "eos,never"], /--stop takes eos, entropy, both or none/);
        await usageError([...m, "--temperature", "-1"], /--temperature must be a number ≥ 0/);
        await usageError([...m, "--window", "64"], /--window 64 exceeds/);
        await usageError([...m, "--prompt", "a long prompt here", "--length", "8"], /--length 8/);
        await usageError(["sample", "--model", join(dir, "nope")], /nope: .*model directory/);
        await usageError(["eval", "--model", hf, "--scorer", run], /--scorer must be an AR model/);
        await usageError(["tune-schedule", "--model", ar], /diffusion models; this is AR/);
      });

      await t.step("sample beyond the training context: NFE and tokens/s", async () => {
        const r = json(
          await bd3([
            "sample",
            "--model",
            hf,
            "--prompt",
            "The",
            "--length",
            "48",
            "--samples",
            "2",
            "--batch",
            "2",
            "--stop",
            "none",
            "--top-p",
            "0.9",
            "--json",
          ]),
          "sample",
        );
        assert.equal(r.samples.length, 2);
        assert.ok(r.nfe > 0 && r.tokensPerSecond > 0, JSON.stringify(r));
        // 48 tokens = BOS + 3 prompt bytes + 44 generated: past the 32-token context.
        for (const s of r.samples) {
          assert.equal(s.tokens, 44);
          assert.ok(s.text.startsWith("The"));
        }
        assert.match(r.sampler, /^bd3lm kv first-hitting/);
      });
      await t.step("sample: adaptive block size, no KV cache, entropy stop, live", async () => {
        const r = json(
          await bd3([
            "sample",
            "--model",
            run,
            "--adaptive",
            "4,8,16",
            "--no-kv-cache",
            "--stop",
            "eos,entropy",
            "--entropy-window",
            "16",
            "--entropy-threshold",
            "0.5",
            "--live",
            "--json",
          ]),
          "sample --adaptive",
        );
        assert.match(r.sampler, /window .*adaptive/);
        assert.ok(r.nfe > 0);
        const plain = await bd3(["sample", "--model", run, "--live", "--seed", "3"]);
        assert.equal(plain.code, 0, plain.stderr);
        assert.match(plain.stderr, /NFE \d+(\.\d)? per run .* tok\/s/);
        assert.ok(!plain.stdout.includes("\x1b["), "a pipe gets no escape codes");
      });

      await t.step("eval: perplexities, sample statistics, policy comparison", async () => {
        const out = join(dir, "results.json"), svg = join(dir, "policies.svg");
        const r = json(
          await bd3([
            "eval",
            "--model",
            run,
            "--batches",
            "2",
            "--batch",
            "2",
            "--samples",
            "2",
            "--scorer",
            ar,
            "--compare-block-policies",
            "--sizes",
            "4,8",
            "--plot",
            svg,
            "--out",
            out,
            "--json",
          ]),
          "eval",
        );
        assert.equal(r.test.bound, true);
        assert.ok(Number.isFinite(r.test.ppl) && r.test.ppl > 1, JSON.stringify(r.test));
        assert.equal(r.test.batches, 2);
        assert.ok(r.sampling.nfe > 0 && r.sampling.entropy > 0);
        assert.ok(Number.isFinite(r.sampling.genPpl) && r.sampling.genPpl > 1);
        assert.ok(r.sampling.lengthMax >= r.sampling.lengthMedian);
        assert.deepEqual(r.policies.map((p: { policy: string }) => p.policy.split(" ")[0]), [
          "fixed",
          "fixed",
          "adaptive",
        ]);
        assert.deepEqual(JSON.parse(await Deno.readTextFile(out)), r);
        assert.match(await Deno.readTextFile(svg), /^<svg/);
        const text = await bd3(["eval", "--model", run, "--batches", "1", "--samples", "1"]);
        assert.equal(text.code, 0, text.stderr);
        assert.match(text.stdout, /test PPL .*\| ≤ \d/);
      });

      await t.step("tune-schedule: variance table, choice, config for --resume", async () => {
        const r = json(
          await bd3([
            "tune-schedule",
            "--model",
            run,
            "--widths",
            "0.5,0.9",
            "--batches",
            "2",
            "--batch",
            "2",
            "--write-to",
            run,
            "--json",
          ]),
          "tune-schedule",
        );
        assert.equal(r.table.length, 15); // (0.001, 1) + 11 windows of 0.5 + 3 of 0.9
        const best = Math.min(...r.table.map((x: { varianceSum: number }) => x.varianceSum));
        assert.equal(r.best.varianceSum, best);
        assert.ok(r.table.every((x: { meanLoss: number }) => Number.isFinite(x.meanLoss)));
        const cfg = JSON.parse(await Deno.readTextFile(join(run, "clip.json")));
        assert.equal(cfg.clip, r.best.clip);
        assert.equal(cfg.tokenizer, "bytes");
        const resumed = await bd3([
          "train",
          "--config",
          join(run, "clip.json"),
          "--resume",
          "--steps",
          "5",
          "--json",
        ]);
        assert.equal(resumed.code, 0, resumed.stderr);
        const runJson = JSON.parse(await Deno.readTextFile(join(run, "run.json")));
        assert.equal(runJson.flags.clip, r.best.clip);
      });

      await t.step("demo samples from a model after the self-test", async () => {
        const r = json(await bd3(["demo", "--model", run, "--json"]), "demo");
        assert.equal(r.selfTest.failed, 0);
        assert.ok(r.nfe > 0 && r.tokens > 0 && r.tokensPerSecond > 0);
        const text = await bd3(["demo", "--model", run, "--prompt", "A"]);
        assert.equal(text.code, 0, text.stderr);
        assert.match(text.stdout, /kernel self-test: all \d+ kernels match/);
        assert.match(text.stdout, /NFE \d+/);
        assert.match(text.stdout, /deno task serve/);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
