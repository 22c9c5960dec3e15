/**
 * `bd3 reproduce` as a user runs it: its help and a bad flag (subprocesses), plus the results
 * file's round trip and the report renderer on hand-made results (no GPU, no training).
 * @module
 */
import assert from "node:assert/strict";
import { bd3 } from "./testing.ts";
import { resultsFromJson, resultsToJson, type StudyResults } from "./reproduce_results.ts";
import { renderReport } from "./reproduce_report.ts";
import { PROFILES } from "./reproduce_study.ts";

function sample(): StudyResults {
  const run = (label: string, algo: "ar" | "bd3lm", ppl: number) => ({
    label,
    algo,
    blockSize: 4,
    curve: [[1, 3], [2, 2]] as [number, number][],
    valCurve: [[1, 20], [2, 10]] as [number, number][],
    ppl,
    bound: algo !== "ar",
    trainSeconds: 1,
    tokensPerSecond: 100,
  });
  return {
    format: 1,
    profile: PROFILES.quick,
    seed: 1,
    adapter: { name: "test adapter", isSoftware: true },
    minutes: 0.5,
    data: { trainChunks: 64, testChunks: 16 },
    tokenizer: { name: "bytes", vocabSize: 259 },
    model: { hidden: 32, blocks: 1, heads: 2, condDim: 16 },
    runs: [run("AR", "ar", 5), run("BD3-LM L′=4", "bd3lm", NaN)],
    clip: [{ blockSize: 4, window: "U[0, 1]", variance: 0.123456, ppl: 7 }],
    generation: [{
      label: "AR",
      lengthMedian: 80,
      lengthMax: 96,
      genPpl: 9,
      entropy: 4,
      nfe: 96,
      tokensPerSecond: 50,
    }],
    bundled: null,
  };
}

Deno.test("bd3 reproduce: command line, results file and report", async (t) => {
  await t.step("--help: exit 0, its flags and examples", async () => {
    const r = await bd3(["reproduce", "--help"]);
    assert.equal(r.code, 0, r.stderr);
    for (const f of ["--profile", "--out", "--seed", "--adapter", "--help"]) {
      assert.match(r.stdout, new RegExp(`^  ${f}`, "m"), f);
    }
    assert.match(r.stdout, /<paper-small\|cpu\|quick>/);
    assert.match(r.stdout, /Examples:\n {2}bd3 reproduce/);
  });
  await t.step("a bad flag or value: exit 2, one line", async () => {
    for (
      const [args, re] of [
        [["reproduce", "--profil", "cpu"], /unknown flag --profil\. Did you mean --profile\?/],
        [["reproduce", "--profile", "huge"], /--profile must be one of paper-small, cpu, quick/],
        [["reproduce", "--seed", "-1"], /--seed must be an integer ≥ 0/],
      ] as [string[], RegExp][]
    ) {
      const r = await bd3(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], re);
    }
  });
  await t.step("results.json round trip keeps non-finite numbers", () => {
    const back = resultsFromJson(resultsToJson(sample()));
    assert.ok(Number.isNaN(back.runs[1].ppl));
    assert.deepEqual({ ...back, runs: [] }, { ...sample(), runs: [] });
    assert.throws(() => resultsFromJson("{}", "x.json"), /x\.json is not a bd3 reproduce/);
  });
  await t.step("the report renders every section from the results", () => {
    const files = renderReport(sample());
    const md = files["results.md"];
    assert.match(md, /^# Reproduction study \(quick profile\)/);
    assert.match(md, /deno task reproduce --profile quick/);
    assert.match(md, /test adapter \(software driver\)/);
    assert.match(md, /\| BD3-LM L′=4 +\| ≤ n\/a/);
    assert.match(md, /\| +4 \| U\[0, 1\] +\| +0\.123 \| 7\.0 +\|/);
    assert.match(md, /No bundled model/);
    assert.match(files["loss_curves.svg"], /^<svg/);
    assert.match(files["validation_curves.svg"], /^<svg/);
  });
});
