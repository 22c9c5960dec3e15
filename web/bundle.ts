/**
 * Builds the browser bundle (`/app.js`): `web/browser/entry.ts` and everything it imports —
 * the same core, kernels, sampling and schedules modules the server runs, WGSL sources inlined
 * by `deno bundle` from their `with { type: "text" }` imports — as one ES module.
 * @module
 */
import { dirname } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";

/** The browser entry point. */
export const BROWSER_ENTRY: string = fromFileUrl(new URL("./browser/entry.ts", import.meta.url));

/** Runs `deno bundle` for the browser and returns the JavaScript. Needs --allow-run/read/write. */
export async function buildBrowserBundle(opts: { minify?: boolean } = {}): Promise<string> {
  const out = await Deno.makeTempFile({ prefix: "blockdiff-app-", suffix: ".js" });
  try {
    const root = fromFileUrl(new URL("..", import.meta.url));
    const args = ["bundle", "--quiet", "--platform", "browser", "--format", "esm", "-o", out];
    if (opts.minify ?? true) args.push("--minify");
    const r = await new Deno.Command(Deno.execPath(), {
      args: [...args, BROWSER_ENTRY],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!r.success) {
      throw new Error(`deno bundle failed: ${new TextDecoder().decode(r.stderr).trim()}`);
    }
    return await Deno.readTextFile(out);
  } finally {
    await Deno.remove(out).catch(() => {});
  }
}

if (import.meta.main) {
  // `deno task build-web [out]`: prebuild for `bd3 serve --app-js`.
  const target = Deno.args[0] ?? ".out/web/app.js";
  const js = await buildBrowserBundle();
  await Deno.mkdir(dirname(target), { recursive: true });
  await Deno.writeTextFile(target, js);
  console.log(`wrote ${target} (${(js.length / 1024).toFixed(0)} KiB)`);
}
