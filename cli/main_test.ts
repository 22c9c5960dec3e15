import assert from "node:assert/strict";
import { bd3 as run } from "./testing.ts";
import { hasGpu } from "@blockdiff/core/testing";

const bd3 = (args: string[], env: Record<string, string> = {}) => run(args, { env });

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
