/**
 * The page end to end in headless Chromium (playwright-core, Debian's /usr/bin/chromium):
 * stream a generation from the server, cancel one, and generate once on the browser's own
 * WebGPU (SwiftShader). Reported as ignored when Chromium is not installed.
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

async function select(page: import("playwright-core").Page, values: Record<string, string>) {
  for (const [id, v] of Object.entries(values)) {
    const tag = await page.locator(`#${id}`).evaluate((e) => e.tagName);
    if (tag === "SELECT") await page.selectOption(`#${id}`, v);
    else await page.fill(`#${id}`, v);
  }
}

/** What the page's MutationObserver saw of the stream (see `watchMasks`). */
type Seen = { __seen: { masks: number; maxNfe: number } };

/**
 * Records, inside the page, every masked position the stream puts on screen and the largest
 * NFE shown, so the test asserts on what was streamed rather than racing the generation.
 */
async function watchMasks(page: import("playwright-core").Page): Promise<void> {
  await page.evaluate(() => {
    const seen = { masks: 0, maxNfe: 0 };
    (globalThis as unknown as Seen).__seen = seen;
    new MutationObserver(() => {
      seen.masks += document.querySelectorAll("#block .mask").length;
      seen.maxNfe = Math.max(seen.maxNfe, Number(document.getElementById("nfe")!.textContent));
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}

/** Makes a failing step print the page's console before its error. */
function wrapStep(step: Deno.TestContext["step"], lines: () => string[]): Deno.TestContext["step"] {
  return (async (name: string, fn: (t: Deno.TestContext) => Promise<void>) =>
    await step(name, async (t) => {
      try {
        await fn(t);
      } catch (e) {
        console.error(`page console:\n  ${lines().slice(-40).join("\n  ") || "(empty)"}`);
        throw e;
      }
    })) as Deno.TestContext["step"];
}

/** The page's status line and result, for failure messages. */
async function pageState(page: import("playwright-core").Page): Promise<string> {
  return await page.evaluate(() =>
    JSON.stringify({
      state: document.body.dataset.state,
      status: document.getElementById("status")?.textContent,
      nfe: document.getElementById("nfe")?.textContent,
      final: document.getElementById("final")?.textContent?.slice(0, 200),
      block: document.getElementById("block")?.childElementCount,
    })
  ).catch((e) => `(page unreadable: ${e})`);
}

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
      // The page's console, printed only when a step fails (it explains most CI failures).
      const consoleLines: string[] = [];
      page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
      t.step = wrapStep(t.step.bind(t), () => consoleLines);
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
          await watchMasks(page);
          await page.click("#generate");
          // The picture is taken while masked positions are on the page when the run is still
          // going; a fast machine may finish first, which is fine (no timing in the asserts).
          await page.waitForFunction(
            () =>
              document.querySelector("#block .mask") !== null ||
              !document.getElementById("final")!.hidden,
            undefined,
            { timeout: 60_000 },
          ).catch(async (e) => {
            throw new Error(
              `no masked block and no result after 60 s: ${await pageState(page)}`,
              { cause: e },
            );
          });
          await Deno.mkdir(".out", { recursive: true });
          const shot = join(".out", "web-generation.png");
          await page.screenshot({ path: shot });
          console.log(`screenshot: ${await Deno.realPath(shot)}`);
          await page.waitForSelector("#final:not([hidden])", { timeout: 120_000 }).catch(
            async (e) => {
              throw new Error(`no result after 120 s: ${await pageState(page)}`, { cause: e });
            },
          );
          assert.equal(await page.getAttribute("#final", "class"), "", await pageState(page));
          // The stream showed masked positions, and more than one denoising step of them.
          const seen = await page.evaluate(() => (globalThis as unknown as Seen).__seen);
          assert.ok(
            seen.masks > 0,
            `no masked position was ever streamed: ${JSON.stringify(seen)}`,
          );
          assert.ok(seen.maxNfe > 8, JSON.stringify(seen));
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
        await page.waitForSelector("#block .mask", { state: "attached", timeout: 60_000 }).catch(
          async (e) => {
            throw new Error(`no masked block after 60 s: ${await pageState(page)}`, { cause: e });
          },
        );
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
  // Ignored (not passed) without Chromium.
  { ignore: !haveChromium },
);
