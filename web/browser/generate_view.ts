/**
 * The generation view: reads the form, runs on the server or in this browser, and draws the
 * stream: committed text, then the current block with masked positions (▒) turning into text,
 * live NFE and tokens/s, and the finished sample.
 * @module
 */
import { MASK_GLYPH } from "../progress.ts";
import type { ModelInfo } from "../models.ts";
import { $, el, getJson } from "./dom.ts";
import type { RunEvent } from "./events.ts";
import { runRemote } from "./remote.ts";
import { runLocal } from "./local.ts";
import { webGpuMissing } from "./device.ts";

let models: ModelInfo[] = [];
let current: AbortController | null = null;

function value(id: string): string {
  return ($(id) as HTMLInputElement).value.trim();
}

function checked(id: string): boolean {
  return ($(id) as HTMLInputElement).checked;
}

/** The request body the form describes (validated by the server or by `runLocal`). */
export function formBody(): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: value("model"),
    prompt: ($("prompt") as HTMLTextAreaElement).value,
    sampler: value("sampler"),
    topP: Number(value("topP")),
    temperature: Number(value("temperature")),
    seed: Number(value("seed")),
    stopAtEos: checked("stopAtEos"),
  };
  if (value("length")) body.length = Number(value("length"));
  if (value("steps")) body.steps = Number(value("steps"));
  const bs = value("blockSize");
  if (bs) body.blockSize = bs === "adaptive" ? "adaptive" : Number(bs);
  if (checked("entropyOn")) {
    body.entropyStop = {
      window: Number(value("entropyWindow")),
      threshold: Number(value("entropyThreshold")),
    };
  }
  return body;
}

function render(e: RunEvent): void {
  const status = $("status");
  switch (e.event) {
    case "queued":
      status.textContent = e.data.position > 0 ? `queued (${e.data.position} ahead)` : "starting…";
      break;
    case "status":
      status.textContent = e.data.text;
      break;
    case "start":
      status.textContent = "generating…";
      $("committed").textContent = e.data.prompt;
      break;
    case "step":
    case "block": {
      const d = e.data;
      if (d.committed !== undefined) $("committed").textContent = d.committed;
      const block = $("block");
      block.replaceChildren(
        ...d.tokens.map((t) => t === null ? el("span", MASK_GLYPH, "mask") : el("span", t, "tok")),
      );
      $("nfe").textContent = String(d.nfe);
      $("tps").textContent = d.tokensPerSecond.toFixed(1);
      status.textContent = `generating… block at ${d.blockStart}, ${d.generated} tokens`;
      break;
    }
    case "done": {
      const d = e.data;
      $("committed").textContent = d.text;
      $("block").replaceChildren();
      $("nfe").textContent = String(d.nfe);
      $("tps").textContent = d.tokensPerSecond.toFixed(1);
      status.textContent = `done: ${d.generated} tokens, ${d.nfe} NFE, ${d.seconds.toFixed(2)} s` +
        (d.stopReason ? `, stopped by ${d.stopReason}` : "");
      const fin = $("final");
      fin.className = "";
      fin.textContent = d.text;
      fin.hidden = false;
      break;
    }
    case "error": {
      status.textContent = `error: ${e.data.error}`;
      const fin = $("final");
      fin.className = "error";
      fin.textContent = e.data.error;
      fin.hidden = false;
      break;
    }
  }
}

async function start(ev: Event): Promise<void> {
  ev.preventDefault();
  if (current) return;
  const ac = new AbortController();
  current = ac;
  $("generate").toggleAttribute("disabled", true);
  $("cancel").toggleAttribute("disabled", false);
  $("final").hidden = true;
  $("block").replaceChildren();
  $("committed").textContent = "";
  document.body.dataset.state = "running";
  const body = formBody();
  try {
    if (value("mode") === "browser") {
      const info = models.find((m) => m.name === body.model);
      if (!info) render({ event: "error", data: { error: "choose a model" } });
      else await runLocal(body, info, render, ac.signal);
    } else {
      await runRemote(body, render, ac.signal);
    }
  } catch (e) {
    render({ event: "error", data: { error: ac.signal.aborted ? "cancelled" : String(e) } });
  } finally {
    current = null;
    $("generate").toggleAttribute("disabled", false);
    $("cancel").toggleAttribute("disabled", true);
    document.body.dataset.state = "idle";
  }
}

function cancel(): void {
  current?.abort();
}

function updateModeAvailability(): void {
  const info = models.find((m) => m.name === value("model"));
  const browserOption = ($("mode") as HTMLSelectElement).options[1];
  const why = webGpuMissing() ??
    (info && !info.browser ? "tokenizer not available in the browser" : null);
  browserOption.disabled = why !== null;
  browserOption.title = why ?? "";
  if (why && value("mode") === "browser") ($("mode") as HTMLSelectElement).value = "server";
}

/** Fills the model list and wires the form. */
export async function initGenerateView(): Promise<void> {
  models = (await getJson<{ models: ModelInfo[] }>("/api/models")).models;
  const select = $("model") as HTMLSelectElement;
  select.replaceChildren(...models.map((m) => {
    const o = el("option", `${m.name} (${m.algo}, L=${m.config.length}, b=${m.config.blockSize})`);
    (o as HTMLOptionElement).value = m.name;
    return o;
  }));
  select.addEventListener("change", updateModeAvailability);
  updateModeAvailability();
  $("gen-form").addEventListener("submit", (e) => void start(e));
  $("cancel").addEventListener("click", cancel);
  if (models.length === 0) {
    $("status").textContent = "no models found in the server's model directory";
  }
}
