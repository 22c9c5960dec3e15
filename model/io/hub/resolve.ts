/**
 * Model references: a local model directory, or a Hub id `org/name[@revision]` whose files are
 * fetched into the huggingface_hub cache and whose snapshot directory is returned, ready for
 * `loadModelDir`.
 * @module
 */
import { type HubOverrides, hubSettings } from "./env.ts";
import { hubDownload, HubEntryNotFound } from "./download.ts";
import { HubError } from "./errors.ts";
import { type ByteProgress, stderrByteProgress } from "./progress.ts";
import { dirname } from "node:path";
import { exists } from "./cache.ts";

/** A parsed Hub id. */
export interface HubRef {
  /** `org/name`. */
  repo: string;
  /** Branch, tag or commit (default `main`). */
  revision: string;
}

/** Files of a model that are fetched when the repository has them (beside the weights). */
export const OPTIONAL_MODEL_FILES: readonly string[] = [
  "blockdiff.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "vocab.json",
  "merges.txt",
];

/** Parses `org/name` or `org/name@revision`; null for anything else. */
export function parseHubRef(ref: string): HubRef | null {
  const m = /^([A-Za-z0-9][\w.-]*\/[\w.-]+)(?:@([\w./-]+))?$/.exec(ref);
  if (!m || m[1].includes("..") || m[1].endsWith(".")) return null;
  // The revision names a file under refs/ in the cache: plain segments only.
  if (m[2] && m[2].split("/").some((seg) => seg === "" || seg === "." || seg === "..")) {
    return null;
  }
  return { repo: m[1], revision: m[2] ?? "main" };
}

/** Options of {@linkcode resolveModelRef}. */
export interface ResolveModelRefOptions extends HubOverrides {
  /** Byte progress; `false` for none. Default: a line on stderr. */
  progress?: ByteProgress | false;
}

/**
 * Returns a directory holding the model `ref` names. A path that exists locally is returned as
 * it is; `org/name[@revision]` is downloaded (or found in the cache) and its snapshot directory
 * returned: `config.json`, `model.safetensors`,
 * and the tokenizer files and `blockdiff.json` when present.
 *
 * @example
 * ```ts ignore
 * import { resolveModelRef } from "@blockdiff/model/deno";
 * const dir = await resolveModelRef("kuleshov-group/bd3lm-owt-block_size4");
 * ```
 */
export async function resolveModelRef(
  ref: string,
  options: ResolveModelRefOptions = {},
): Promise<string> {
  const hub = parseHubRef(ref);
  if (!hub || (await exists(ref))) return ref;
  const s = hubSettings(options);
  const progress = options.progress === false
    ? undefined
    : options.progress ?? stderrByteProgress();
  const get = (file: string) =>
    hubDownload(s, hub.repo, hub.revision, file, { progress }).then((r) => r.path);
  const optional = (file: string) =>
    get(file).catch((e) => {
      if (e instanceof HubEntryNotFound) return null;
      if (e instanceof HubError && s.offline) return null;
      throw e;
    });
  let config: string;
  try {
    config = await get("config.json");
  } catch (e) {
    if (e instanceof HubEntryNotFound) {
      throw new HubError(`${hub.repo}@${hub.revision}: has no config.json, so it is not a model`);
    }
    throw e;
  }
  const weights = await optional("model.safetensors");
  if (!weights) {
    const sharded = !s.offline && await optional("model.safetensors.index.json");
    throw new HubError(
      `${hub.repo}@${hub.revision}: ` +
        (sharded
          ? "holds a sharded checkpoint (model.safetensors.index.json), which blockdiff does not " +
            "load; save it as one model.safetensors"
          : "has no model.safetensors" + (s.offline ? " in the cache (HF_HUB_OFFLINE=1)" : "")),
    );
  }
  for (const f of OPTIONAL_MODEL_FILES) await optional(f);
  return dirname(config);
}
