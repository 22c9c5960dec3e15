/**
 * The page end to end in headless Chromium (playwright-core, Debian's /usr/bin/chromium):
 * stream a generation from the server, cancel one, and generate once on the browser's own
 * WebGPU (SwiftShader). Skipped with a message when Chromium is not installed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { gpuTest } from "@blockdiff/core/testing";
import { chromium } from "playwright-core";
import { createApp } from "./app.ts";
import { buildBrowserBundle } from "./bundle.ts";
import { makeFixture } from "./test_fixtures.ts";

const CHROMIUM = Deno.env.get("BLOCKDIFF_CHROMIUM") ?? "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--enable-unsafe-webgpu",
];

const haveChromium = await Deno.stat(CHROMIUM).then((s) => s.isFile, () => false);
if (!haveChromium) console.warn(`skipped the browser test: no Chromium at ${CHROMIUM}`);

async function select(page: import("playwright-core").Page, values: Record<string, string>) {
  for (const [id, v] of Object.entries(values)) {
    const tag = await page.locator(`#${id}`).evaluate((e) => e.tagName);
    if (tag === "SELECT") await page.selectOption(`#${id}`, v);
    else await page.fill(`#${id}`, v);
  }
}

if (haveChromium) {
  gpuTest(
    "web: the page in headless Chromium (stream, cancel, in-browser WebGPU)",
    async (t, gpu) => {
      const fx = await makeFixture(gpu);
      const app = createApp({ gpu, models: fx.models, appJs: await buildBrowserBundle() });
      const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
      const url = `http://127.0.0.1:${server.addr.port}/`;
      const profile = await Deno.makeTempDir({ prefix: "blockdiff-chromium-" });
      const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: FLAGS,
        viewport: { width: 1100, height: 800 },
      });
      const health = async () => await (await fetch(`${url}api/health`)).json();
      try {
        const page = context.pages()[0] ?? await context.newPage();
        const pageErrors: string[] = [];
        page.on("pageerror", (e) => pageErrors.push(String(e)));
        await page.goto(url);
        await page.waitForSelector("body[data-ready='1']", { timeout: 30_000 });

        await t.step(
          "server mode streams masked tokens into text, then a finished sample",
          async () => {
            await select(page, {
              model: "tiny",
              length: "512",
              sampler: "ancestral",
              steps: "4",
              topP: "1",
            });
            await page.uncheck("#stopAtEos");
            await page.fill("#prompt", "Block diffusion ");
            await page.click("#generate");
            await page.waitForSelector("#block .mask", { timeout: 30_000 });
            await page.waitForFunction(() =>
              Number(document.getElementById("nfe")!.textContent) > 8
            );
            // Still streaming when the picture is taken: masked positions are on the page.
            await page.waitForSelector("#block .mask", { timeout: 30_000 });
            assert.equal(await page.getAttribute("body", "data-state"), "running");
            await Deno.mkdir(".out", { recursive: true });
            const shot = join(".out", "web-generation.png");
            await page.screenshot({ path: shot });
            console.log(`screenshot mid-generation: ${await Deno.realPath(shot)}`);
            await page.waitForSelector("#final:not([hidden])", { timeout: 60_000 });
            assert.equal(await page.getAttribute("#final", "class"), "");
            const text = await page.textContent("#final");
            assert.ok(text!.startsWith("Block diffusion "), text!);
            assert.match((await page.textContent("#status"))!, /^done: 495 tokens/);
            assert.ok(Number(await page.textContent("#tps")) > 0);
          },
        );

        await t.step("cancel stops the server's generation", async () => {
          const before = (await health()).generations.cancelled;
          await select(page, { length: "2048" });
          await page.click("#generate");
          await page.waitForSelector("#block .mask", { timeout: 30_000 });
          await page.click("#cancel");
          await page.waitForSelector("#final.error", { timeout: 10_000 });
          assert.match((await page.textContent("#status"))!, /cancelled/);
          const t0 = Date.now();
          let h = await health();
          while (h.generations.cancelled === before && Date.now() - t0 < 10_000) {
            await new Promise((r) => setTimeout(r, 50));
            h = await health();
          }
          assert.equal(h.generations.cancelled, before + 1);
          assert.equal(h.queue.running, 0);
        });

        await t.step("in-browser mode runs the model on the page's WebGPU", async () => {
          const hasGpu = await page.evaluate(async () =>
            "gpu" in navigator && (await navigator.gpu.requestAdapter()) !== null
          );
          assert.ok(hasGpu, "Chromium offers no WebGPU adapter (--enable-unsafe-webgpu)");
          const served = (await health()).generations.completed;
          await select(page, { mode: "browser", length: "24", prompt: "Hi" });
          await page.click("#generate");
          await page.waitForSelector("#final:not([hidden])", { timeout: 120_000 });
          const status = (await page.textContent("#status"))!;
          assert.match(
            status,
            /^done: \d+ tokens/,
            `${status} / ${await page.textContent("#final")}`,
          );
          assert.ok((await page.textContent("#final"))!.startsWith("Hi"));
          // Nothing ran on the server, and the weights are now in the Cache API.
          assert.equal((await health()).generations.completed, served);
          const cached = await page.evaluate(async () =>
            (await (await caches.open("blockdiff-weights-v1")).keys()).length
          );
          assert.equal(cached, 1);
        });
        assert.deepEqual(pageErrors, []);
      } finally {
        await context.close();
        await server.shutdown();
        app.models[Symbol.dispose]();
        await Deno.remove(profile, { recursive: true }).catch(() => {});
        await Deno.remove(fx.root, { recursive: true });
      }
    },
  );
}
