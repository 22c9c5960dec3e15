/**
 * The training-curves view: pick runs and a metric; the server draws the SVG (eval's
 * `linePlot`) from the runs' metrics.jsonl; eval.json figures, when present, go in a table.
 * @module
 */
import type { RunInfo } from "../runs.ts";
import { $, el, getJson } from "./dom.ts";

let runs: RunInfo[] = [];

function selected(): string[] {
  return [...document.querySelectorAll<HTMLInputElement>("#runs input:checked")].map((i) =>
    i.value
  );
}

function redraw(): void {
  const names = selected();
  const metric = ($("metric") as HTMLSelectElement).value || "loss";
  ($("plot") as HTMLImageElement).src = `/api/runs/plot.svg?runs=${
    encodeURIComponent(names.join(","))
  }&metric=${encodeURIComponent(metric)}`;
  const table = $("evals");
  const withEval = runs.filter((r) => names.includes(r.name) && r.eval);
  const keys = [...new Set(withEval.flatMap((r) => Object.keys(r.eval!)))].slice(0, 12);
  table.replaceChildren();
  if (withEval.length === 0) return;
  const head = el("tr", "");
  for (const k of ["run", ...keys]) head.append(el("th", k));
  table.append(head);
  for (const r of withEval) {
    const tr = el("tr", "");
    tr.append(el("td", r.name));
    for (const k of keys) {
      const v = r.eval![k];
      tr.append(el("td", typeof v === "number" ? v.toPrecision(5) : JSON.stringify(v ?? "")));
    }
    table.append(tr);
  }
}

/** Loads the run list and wires the controls. */
export async function initCurvesView(): Promise<void> {
  runs = (await getJson<{ runs: RunInfo[] }>("/api/runs")).runs;
  const box = $("runs");
  box.replaceChildren(...runs.map((r) => {
    const label = el("label", ` ${r.name} (${r.lastStep ?? 0} steps)`);
    const cb = document.createElement("input");
    cb.type = "checkbox";
    cb.value = r.name;
    cb.checked = true;
    cb.addEventListener("change", redraw);
    label.prepend(cb);
    return label;
  }));
  if (runs.length === 0) box.textContent = "no runs with metrics.jsonl found";
  const metrics = [...new Set(runs.flatMap((r) => r.metrics))].sort();
  const select = $("metric") as HTMLSelectElement;
  select.replaceChildren(...metrics.map((m) => {
    const o = el("option", m) as HTMLOptionElement;
    o.value = m;
    return o;
  }));
  if (metrics.includes("loss")) select.value = "loss";
  select.addEventListener("change", redraw);
  redraw();
}
