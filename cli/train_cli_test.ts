/**
 * `bd3 train` as a student uses it, each case one that broke before: resume takes the run's own
 * settings and refuses conflicting flags, an existing run is never mixed into, SIGTERM and
 * SIGINT checkpoint and exit 128 + signal, a damaged newest checkpoint is passed over, help
 * does nothing else, stray arguments and out-of-range numbers are refused, validation loss is
 * written, and `bd3 runs` / `bd3 plot` read the result.
 * @module
 */
import assert from "node:assert/strict";
import * as cli from "./testing.ts";
import { MICRO_MODEL_ARGS } from "./testing.ts";
import { join } from "node:path";
import { gzipSync } from "fflate";
import { userLines } from "./exit_codes_test.ts";

// Each run keeps its token cache in its own directory.
const inDir = (cwd: string) => ({ cwd, env: { BLOCKDIFF_CACHE: join(cwd, "cache") } });
const bd3Command = (args: string[], cwd: string) => cli.bd3Command(args, inDir(cwd));
const bd3 = (args: string[], cwd: string) => cli.bd3(args, inDir(cwd));

const MICRO = [...MICRO_MODEL_ARGS, "--batch", "2", "--json"];

async function usage(args: string[], cwd: string, re: RegExp) {
  const r = await bd3(args, cwd);
  assert.equal(r.code, 2, `${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
  const lines = userLines(r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], re);
}

async function checkpoints(run: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(run, "checkpoints"))) {
    if (e.name.startsWith("ckpt-")) out.push(e.name);
  }
  return out.sort();
}

function metricRows(text: string): Record<string, number>[] {
  return text.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

Deno.test({
  name: "bd3 train: strict flags, help, ranges (no GPU work)",
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "bd3-strict-" });
    try {
      await t.step("-h and --help anywhere print help and train nothing", async () => {
        for (
          const args of [["train", "-h"], ["train", "--steps", "5", "--help"], ["sample", "-h"]]
        ) {
          const r = await bd3(args, dir);
          assert.equal(r.code, 0, r.stderr);
          assert.match(r.stdout, /^bd3 \w+ — /);
        }
        await assert.rejects(Deno.stat(join(dir, "runs")), Deno.errors.NotFound);
      });
      await t.step("stray arguments and single-dash flags are refused", async () => {
        await usage(["train", "foo"], dir, /unexpected argument 'foo'/);
        await usage(["eval", "foo"], dir, /unexpected argument 'foo'/);
        await usage(
          ["train", "-steps", "5"],
          dir,
          /flags start with two dashes \(did you mean --steps\?\)/,
        );
      });
      await t.step("every number is checked against its range", async () => {
        const cases: [string[], RegExp][] = [
          [["train", "--lr", "-1"], /--lr must be a number > 0, got -1/],
          [["train", "--seed", "-1"], /--seed must be an integer in \[0, 4294967295\]/],
          [["train", "--ema", "1.5"], /--ema must be a number in \[0, 1\)/],
          [["train", "--warmup", "-3"], /--warmup must be an integer ≥ 0/],
          [["train", "--hidden", "0"], /--hidden must be an integer ≥ 1/],
          [
            ["train", "--block-sizes", "4,64", "--length", "32"],
            /--block-sizes 64 must divide --length 32/,
          ],
          [
            ["train", "--algo", "ar", "--clip", "0.3,0.8"],
            /--clip is for the diffusion algorithms/,
          ],
          [["train", "--algo", "ar", "--block-size", "8"], /--block-size is for --algo bd3lm/],
          [["train", "--size", "huge"], /--size must be one of micro, tiny, small, medium/],
          [["train", "--resample"], /--resample needs --clip/],
          [["sample", "--seed", "1.5"], /--seed must be an integer/],
          [["sample", "--max-new-tokens", "4", "--length", "9"], /not both/],
          [["serve", "--port", "70000"], /--port must be an integer in \[0, 65535\]/],
        ];
        for (const [args, re] of cases) await usage(args, dir, re);
      });
      await t.step("the help lists exactly the accepted values", async () => {
        const r = await bd3(["train", "--help"], dir);
        assert.match(r.stdout, /--algo <bd3lm\|mdlm\|sedd\|ar>/);
        assert.match(r.stdout, /--size <micro\|tiny\|small\|medium>/);
        const s = await bd3(["sample", "--help"], dir);
        assert.match(s.stdout, /both/);
        assert.match(s.stdout, /--max-new-tokens/);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "bd3 train: resume, run ownership, signals, damaged checkpoints, validation, runs, plot",
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "bd3-run-" });
    const run = join(dir, "runs", "micro");
    try {
      await t.step("a run with validation loss", async () => {
        const r = await bd3(
          [
            "train",
            ...MICRO,
            "--steps",
            "4",
            "--eval-every",
            "2",
            "--eval-batches",
            "1",
            "--out",
            run,
          ],
          dir,
        );
        assert.equal(r.code, 0, r.stderr);
        const rows = metricRows(await Deno.readTextFile(join(run, "metrics.jsonl")));
        const val = rows.filter((x) => "valLoss" in x);
        assert.deepEqual(val.map((x) => x.step), [2, 4]);
        assert.ok(val.every((x) => Number.isFinite(x.valLoss) && x.valLoss > 0));
      });
      await t.step("--resume takes the run's settings; a conflicting flag is refused", async () => {
        // The help's own example: only --steps given, everything else from run.json.
        const r = await bd3(["train", "--out", run, "--resume", "--steps", "6", "--json"], dir);
        assert.equal(r.code, 0, r.stderr);
        const record = JSON.parse(await Deno.readTextFile(join(run, "run.json")));
        assert.equal(record.flags.tokenizer, "bytes");
        assert.equal(record.flags.hidden, 32);
        assert.equal(record.flags.steps, 6);
        await usage(
          ["train", "--out", run, "--resume", "--algo", "ar"],
          dir,
          /--algo ar conflicts with the run's saved --algo bd3lm/,
        );
        const after = JSON.parse(await Deno.readTextFile(join(run, "run.json")));
        assert.deepEqual(after, record, "a refused resume must not rewrite run.json");
      });
      await t.step("an existing run needs --resume or --overwrite", async () => {
        await usage(["train", ...MICRO, "--steps", "2", "--out", run], dir, /already holds a run/);
        await Deno.writeTextFile(join(run, "notes.txt"), "mine");
        const r = await bd3(["train", ...MICRO, "--steps", "2", "--out", run, "--overwrite"], dir);
        assert.equal(r.code, 0, r.stderr);
        const rows = metricRows(await Deno.readTextFile(join(run, "metrics.jsonl")));
        assert.equal(Math.max(...rows.map((x) => x.step)), 2);
        assert.deepEqual(await checkpoints(run), ["ckpt-000000000002.safetensors"]);
        assert.equal(await Deno.readTextFile(join(run, "notes.txt")), "mine");
      });
      for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
        await t.step(`${signal} checkpoints and exits ${code}`, async () => {
          const child = bd3Command(
            [
              "train",
              "--out",
              run,
              "--resume",
              "--steps",
              "100000",
              "--checkpoint-every",
              "100000",
            ],
            dir,
          ).spawn();
          // Wait for training steps to appear, then signal.
          const metrics = join(run, "metrics.jsonl");
          const before = metricRows(await Deno.readTextFile(metrics)).length;
          for (let i = 0; i < 600; i++) {
            await new Promise((r) => setTimeout(r, 100));
            if (metricRows(await Deno.readTextFile(metrics)).length > before + 2) break;
          }
          child.kill(signal);
          const out = await child.output();
          assert.equal(out.code, code, new TextDecoder().decode(out.stderr));
          const rows = metricRows(await Deno.readTextFile(metrics));
          const last = Math.max(...rows.map((x) => x.step));
          const names = await checkpoints(run);
          assert.equal(names.at(-1), `ckpt-${String(last).padStart(12, "0")}.safetensors`);
        });
      }
      await t.step("a damaged newest checkpoint is passed over for the intact one", async () => {
        const names = await checkpoints(run);
        const newest = join(run, "checkpoints", names.at(-1)!);
        await Deno.truncate(newest, 4000);
        const previous = Number(/\d{12}/.exec(names.at(-2)!)![0]);
        const r = await bd3(
          ["train", "--out", run, "--resume", "--steps", String(previous + 1)],
          dir,
        );
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /skipping unreadable checkpoint .*truncated/);
        assert.match(r.stderr, new RegExp(`resumed from step ${previous}\\b`));
      });
      await t.step("bd3 runs and bd3 plot read the run", async () => {
        const r = await bd3(["runs", "--dir", join(dir, "runs"), "--json"], dir);
        assert.equal(r.code, 0, r.stderr);
        const row = JSON.parse(r.stdout.trim().split("\n")[0]);
        assert.equal(row.name, "micro");
        assert.equal(row.algo, "bd3lm");
        assert.ok(Number.isFinite(row.loss) && Number.isFinite(row.valLoss));
        const svg = join(dir, "c.svg");
        const p = await bd3(["plot", run, "--out", svg], dir);
        assert.equal(p.code, 0, p.stderr);
        const text = await Deno.readTextFile(svg);
        assert.match(text, /^<svg/);
        assert.match(text, /micro · valLoss/);
        await usage(["plot", run, "--out", "c.pdf"], dir, /--out must end in \.svg or \.png/);
      });
      await t.step("convert infers the tokenizer from the vocabulary", async () => {
        const hf = join(dir, "hf"), back = join(dir, "back");
        assert.equal((await bd3(["convert", "--from", run, "--to", hf], dir)).code, 0);
        await Deno.remove(join(hf, "blockdiff.json")); // a plain Hugging Face directory
        const r = await bd3(["convert", "--from", hf, "--to", back], dir);
        assert.equal(r.code, 0, r.stderr);
        const meta = JSON.parse(await Deno.readTextFile(join(back, "blockdiff.json")));
        assert.equal(meta.tokenizer, "bytes");
        assert.equal(meta.maskId, 259);
      });
      await t.step(
        "tokenizing a .jsonl.gz: progress counts text bytes, few lines off a terminal",
        async () => {
          const lines = Array.from(
            { length: 3000 },
            (_, i) => JSON.stringify({ text: `document ${i} ` + "word ".repeat(20) }),
          ).join("\n");
          const data = join(dir, "docs.jsonl.gz");
          await Deno.writeFile(data, gzipSync(new TextEncoder().encode(lines)));
          const r = await bd3(
            [
              "train",
              ...MICRO.filter((x) => x !== "--json"),
              "--steps",
              "1",
              "--eval-every",
              "0",
              "--data",
              data,
              "--out",
              join(dir, "gz"),
            ],
            dir,
          );
          assert.equal(r.code, 0, r.stderr);
          const bars = r.stderr.split("\n").filter((l) => l.startsWith("tokenizing "));
          assert.ok(bars.length <= 5, `${bars.length} tokenizing lines`);
          const last = /tokenizing (\d+)\/(\d+)/.exec(bars.at(-1) ?? "");
          assert.ok(last, r.stderr);
          assert.ok(Number(last[2]) >= lines.length, `total ${last[2]} is the text size`);
        },
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
