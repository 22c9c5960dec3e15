import assert from "node:assert/strict";
import { hasGpu } from "@blockdiff/core/testing";

const MAIN = new URL("./main.ts", import.meta.url).pathname;

async function bd3(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    // BLOCKDIFF_TUNE=0: tests never tune kernels implicitly (nor touch the user's cache).
    env: { NO_COLOR: "1", BLOCKDIFF_TUNE: "0", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test({
  name: "bd3: help, usage errors and the no-adapter message",
  sanitizeResources: false,
  async fn(t) {
    await t.step("--help lists the commands", async () => {
      const r = await bd3(["--help"]);
      assert.equal(r.code, 0);
      for (const c of ["info", "demo", "bench", "serve"]) {
        assert.match(r.stdout, new RegExp(`\\b${c}\\b`));
      }
    });
    await t.step("each command has --help with examples", async () => {
      for (const c of ["info", "demo", "bench", "serve"]) {
        const r = await bd3([c, "--help"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /Examples:/);
      }
    });
    await t.step("unknown command and unknown flag: one line, exit 2, a suggestion", async () => {
      let r = await bd3(["trian"]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /unknown command 'trian'/);
      r = await bd3(["info", "--jsno"]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /unknown flag --jsno\. Did you mean --json\?/);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    });
    await t.step(
      "no adapter: says what is missing and how to fix it, exit 3, no stack",
      async () => {
        const r = await bd3(["info"], { VK_ICD_FILENAMES: "/nonexistent/icd.json" });
        assert.equal(r.code, 3);
        assert.match(r.stderr, /No WebGPU adapter found/);
        assert.match(r.stderr, /mesa-vulkan-drivers/);
        assert.doesNotMatch(r.stderr, /\n\s+at .*\.ts:\d+/);
      },
    );
    await t.step({
      name: "info --json names the adapter",
      ignore: !hasGpu,
      fn: async () => {
        const r = await bd3(["info", "--json"]);
        assert.equal(r.code, 0, r.stderr);
        const info = JSON.parse(r.stdout);
        assert.equal(typeof info.adapter, "string");
        assert.ok(info.limits.maxStorageBufferBindingSize > 0);
      },
    });
  },
});
