/**
 * Where the Hub client talks to and caches into, read from the environment variables that
 * huggingface_hub honours, so a Python user's settings and cache apply unchanged.
 * @module
 */
import { join } from "node:path";

/** Resolved settings of the Hub client. */
export interface HubSettings {
  /** Base URL of the Hub, without a trailing slash (`HF_ENDPOINT`). */
  endpoint: string;
  /** The hub cache directory (`HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`). */
  cacheDir: string;
  /** Bearer token sent to the endpoint's origin only (`HF_TOKEN`). */
  token?: string;
  /** Cache only, no network (`HF_HUB_OFFLINE=1`). */
  offline: boolean;
}

/** Settings that override the environment. */
export type HubOverrides = Partial<HubSettings> & {
  /** Environment to read instead of `Deno.env` (tests). */
  env?: Record<string, string | undefined>;
};

function truthy(v: string | undefined): boolean {
  return v !== undefined && ["1", "on", "yes", "true"].includes(v.trim().toLowerCase());
}

/** Reads the settings from `overrides`, then the environment, then huggingface_hub's defaults. */
export function hubSettings(overrides: HubOverrides = {}): HubSettings {
  const env = overrides.env ?? Deno.env.toObject();
  const home = env.HOME ?? env.USERPROFILE ?? ".";
  const hfHome = env.HF_HOME || join(env.XDG_CACHE_HOME || join(home, ".cache"), "huggingface");
  const token = overrides.token ?? (env.HF_TOKEN || undefined);
  return {
    endpoint: (overrides.endpoint ?? (env.HF_ENDPOINT || "https://huggingface.co")).replace(
      /\/+$/,
      "",
    ),
    cacheDir: overrides.cacheDir ?? (env.HF_HUB_CACHE || join(hfHome, "hub")),
    token,
    offline: overrides.offline ?? truthy(env.HF_HUB_OFFLINE),
  };
}
