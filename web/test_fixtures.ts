/**
 * Fixtures of the web tests: a model directory with two tiny models (one a training run with
 * metrics), a model outside it reachable only through a symbolic link, and SSE helpers.
 * @module
 */
import { join } from "node:path";
import type { Gpu } from "@blockdiff/core";
import { writeTinyModelDir } from "./tiny_model.ts";
import { readSse, type SseEvent } from "./sse.ts";

/** Paths of the fixture tree. */
export interface Fixture {
  root: string;
  models: string;
  outside: string;
}

/** Builds the fixture tree in a fresh temporary directory. */
export async function makeFixture(gpu: Gpu): Promise<Fixture> {
  const root = await Deno.makeTempDir({ prefix: "blockdiff-web-" });
  const models = join(root, "models");
  await writeTinyModelDir(gpu, join(models, "tiny"));
  await writeTinyModelDir(gpu, join(models, "run1", "model"), {}, 2);
  const lines = Array.from(
    { length: 20 },
    (_, i) =>
      JSON.stringify({ step: i + 1, loss: 5 - i * 0.1, tokensPerSecond: 1000 + i, time: "t" }),
  );
  await Deno.writeTextFile(join(models, "run1", "metrics.jsonl"), lines.join("\n") + "\n{torn");
  await Deno.writeTextFile(join(models, "run1", "eval.json"), JSON.stringify({ valPpl: 123.4 }));
  const outside = join(root, "outside");
  await writeTinyModelDir(gpu, outside);
  await Deno.symlink(outside, join(models, "escape"));
  return { root, models, outside };
}

/** Reads an SSE response to its end (or until `until` says stop), collecting events. */
export async function collectSse(
  r: Response,
  until?: (e: SseEvent) => boolean,
): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  await readSse(r.body!, (e) => {
    events.push(e);
    return !(until?.(e) ?? false);
  });
  return events;
}
