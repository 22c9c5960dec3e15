import assert from "node:assert/strict";
import { buildBrowserBundle } from "./bundle.ts";

Deno.test("web: the browser bundle has the kernels inlined and no Deno or Node code", async () => {
  const js = await buildBrowserBundle({ minify: false });
  // WGSL sources came in through `with { type: "text" }` imports.
  assert.ok((js.match(/@compute/g) ?? []).length >= 20);
  assert.doesNotMatch(js, /\bDeno\.\w+/);
  assert.doesNotMatch(js, /from\s*["']node:|require\(["']node:|["']npm:webgpu/);
  assert.match(js, /navigator\.gpu/);
});
