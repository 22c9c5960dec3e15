/**
 * The page's script (/app.js, bundled with `deno bundle`): the generation view (server or
 * in-browser WebGPU) and the training-curves view.
 * @module
 */
import { $, getJson } from "./dom.ts";
import { initGenerateView } from "./generate_view.ts";
import { initCurvesView } from "./curves_view.ts";

function showTab(name: "generate" | "curves"): void {
  for (const t of ["generate", "curves"] as const) {
    $(`view-${t}`).hidden = t !== name;
    $(`tab-${t}`).classList.toggle("on", t === name);
  }
}

async function main(): Promise<void> {
  $("tab-generate").addEventListener("click", () => showTab("generate"));
  let curvesLoaded = false;
  $("tab-curves").addEventListener("click", () => {
    showTab("curves");
    if (!curvesLoaded) {
      curvesLoaded = true;
      void initCurvesView();
    }
  });
  const health = await getJson<{ adapter: string }>("/api/health");
  $("adapter").textContent = `server GPU: ${health.adapter}`;
  await initGenerateView();
  document.body.dataset.ready = "1";
}

main().catch((e) => {
  $("status").textContent = `page failed to start: ${e}`;
});
