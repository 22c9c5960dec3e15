/**
 * The README's exit-code table is the contract: every example command in it is run here as a
 * user runs it, and must end with the documented code and, for failures, one line on stderr
 * (Dawn's own start-up warnings aside) with no stack trace.
 * @module
 */
import assert from "node:assert/strict";

const MAIN = new URL("./main.ts", import.meta.url).pathname;
const README = new URL("../README.md", import.meta.url).pathname;

/** Rows of the "Exit codes" table that name an example command. */
export function exitCodeExamples(readme: string): { code: number; args: string[] }[] {
  const section = readme.split("### Exit codes")[1]?.split("\n## ")[0] ?? "";
  const rows: { code: number; args: string[] }[] = [];
  for (const line of section.split("\n")) {
    const m = /^\|\s*(\d+)\s*\|[^|]*\|\s*`bd3 ([^`]+)`\s*\|/.exec(line);
    if (m) rows.push({ code: Number(m[1]), args: m[2].trim().split(/\s+/) });
  }
  return rows;
}

/** stderr without Dawn's adapter warnings, which it prints itself at start-up. */
export function userLines(stderr: string): string[] {
  return stderr.trim().split("\n").filter((l) => l && !/^Warning: /.test(l));
}

Deno.test({
  name: "README exit-code table: each example exits with its code and one clear line",
  sanitizeResources: false,
  async fn(t) {
    const rows = exitCodeExamples(await Deno.readTextFile(README));
    assert.ok(rows.length >= 6, `the README's table lists ${rows.length} examples`);
    const dir = await Deno.makeTempDir({ prefix: "bd3-exit-" });
    try {
      for (const { code, args } of rows) {
        await t.step(`bd3 ${args.join(" ")} → ${code}`, async () => {
          const out = await new Deno.Command(Deno.execPath(), {
            args: ["run", "-A", MAIN, ...args],
            cwd: dir,
            env: { NO_COLOR: "1", BLOCKDIFF_TUNE: "0", BLOCKDIFF_CACHE: `${dir}/cache` },
            stdout: "piped",
            stderr: "piped",
          }).output();
          const stderr = new TextDecoder().decode(out.stderr);
          assert.equal(out.code, code, `exit ${out.code}:\n${stderr}`);
          if (code !== 0) {
            const lines = userLines(stderr);
            assert.equal(lines.length, 1, `not one line:\n${stderr}`);
            assert.match(lines[0], /^error: /);
            assert.doesNotMatch(stderr, /\bat .*\.ts:\d+/);
          }
        });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
