/**
 * `bd3 serve`: serves the web page (generation in the server's GPU or the visitor's browser,
 * training curves) and the JSON API on loopback (or the given host).
 * @module
 */
import { acquireTunedGpu } from "./gpu.ts";
import { buildBrowserBundle, createApp, DEFAULT_LIMITS, type ModelSource } from "@blockdiff/web";
import { parseHubRef, resolveModelRef } from "@blockdiff/model/deno";
import { isModelDir } from "./model.ts";
import { type FlagSpec, formatFlags, parseArgs, UsageError } from "./args.ts";

const FLAGS: Record<string, FlagSpec> = {
  port: {
    type: "number",
    help: "port to listen on (0: any free port)",
    default: 8787,
    integer: true,
    min: 0,
    max: 65535,
  },
  host: {
    type: "string",
    help: "address to bind (loopback by default; see Exposing the server below)",
    default: "127.0.0.1",
  },
  "allow-origin": {
    type: "string",
    help: "comma-separated origins whose pages may call the API (CORS), e.g. https://a.example",
  },
  models: {
    type: "string",
    help:
      "directory of models (each child a model directory or a training run), or a list of model directories and Hub ids org/name",
    default: "models",
  },
  runs: { type: "string", help: "directory of training runs for the curves", default: "runs" },
  "app-js": { type: "string", help: "prebuilt page script (deno task build-web); else built now" },
  "max-waiting": {
    type: "number",
    help: "generations waiting behind the running one before 503",
    default: DEFAULT_LIMITS.maxWaiting,
    integer: true,
    min: 0,
  },
  "max-per-client": {
    type: "number",
    help: "generations one client may have at once",
    default: DEFAULT_LIMITS.maxPerClient,
    integer: true,
    min: 1,
  },
  timeout: {
    type: "number",
    help: "seconds a generation may run",
    default: DEFAULT_LIMITS.generationTimeoutMs / 1000,
    min: 0,
    minExclusive: true,
  },
  adapter: {
    type: "string",
    help: "adapter to use: lavapipe, swiftshader or part of a GPU's name",
  },
  help: { type: "boolean", help: "show this help" },
};

/** Help text of `bd3 serve`. */
export const SERVE_HELP = `bd3 serve — serve the blockdiff web page and JSON API

Usage: bd3 serve [flags]

${formatFlags(FLAGS)}

APIs: the native one (POST /api/generate, Server-Sent Events) and an OpenAI-compatible one
(GET /v1/models, POST /v1/completions; diffusion settings such as block_size, sampler and steps
as extra body fields), sharing one generation queue.

Exposing the server: it binds loopback by default, so only this machine can use it. With
--host 0.0.0.0 (or any non-loopback address) anyone who can reach the port can run
generations on this machine's GPU and download the served models' weights; there is no
authentication. Put it behind a reverse proxy with authentication, or a firewall, to expose it.
Pages of other sites cannot call the API unless --allow-origin lists their origin.

Examples:
  bd3 serve --models runs
  bd3 serve --port 9000 --host 0.0.0.0 --models /srv/models --max-waiting 8
  bd3 serve --allow-origin https://a.example,https://b.example`;

/** The origins of --allow-origin, each checked to be `scheme://host[:port]`. */
function allowedOrigins(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value.split(",").map((o) => o.trim()).filter((o) => o !== "").map((o) => {
    let url: URL | null = null;
    try {
      url = new URL(o);
    } catch {
      // reported below
    }
    if (!url || url.origin === "null" || url.origin !== o.replace(/\/$/, "")) {
      throw new UsageError(
        `bd3 serve: --allow-origin ${o} is not an origin; give scheme://host[:port], e.g. https://a.example`,
      );
    }
    return url.origin;
  });
}

function nonNegativeInt(flags: Record<string, unknown>, name: string, max: number): number {
  const v = flags[name] as number;
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new UsageError(`bd3 serve: --${name} must be an integer in 0..${max}, got ${v}`);
  }
  return v;
}

/**
 * `--models` as a list: each entry a model directory (or training run) or a Hub id
 * `org/name[@revision]`, downloaded into the Hugging Face cache and offered as `org--name`.
 */
async function modelList(value: string): Promise<ModelSource[]> {
  const out: ModelSource[] = [];
  for (const entry of value.split(",").map((e) => e.trim()).filter(Boolean)) {
    const local = await Deno.stat(entry).then((s) => s.isDirectory, () => false);
    if (local) {
      out.push({ dir: entry });
      continue;
    }
    const hub = parseHubRef(entry);
    if (!hub) {
      throw new UsageError(
        `bd3 serve: --models ${entry} is neither a directory nor a Hub id org/name ` +
          `(train into a directory: bd3 train --out models/<name>)`,
      );
    }
    out.push({ name: hub.repo.replace("/", "--"), dir: await resolveModelRef(entry) });
  }
  return out;
}

/**
 * The curves' directory: `--runs` when given or present, else the models directory, whose
 * models carry their own training curves (the bundled model's on a fresh install).
 */
async function runsDir(
  runs: string,
  given: boolean,
  models: string | ModelSource[],
): Promise<string | undefined> {
  if (given || await Deno.stat(runs).then((s) => s.isDirectory, () => false)) return runs;
  return typeof models === "string" ? models : undefined;
}

/** Runs `bd3 serve` until interrupted. */
export async function runServe(argv: string[]): Promise<number> {
  const { flags, given } = parseArgs(argv, FLAGS, "serve");
  if (flags.help) {
    console.log(SERVE_HELP);
    return 0;
  }
  const port = nonNegativeInt(flags, "port", 65535);
  const maxWaiting = nonNegativeInt(flags, "max-waiting", 1000);
  const maxPerClient = nonNegativeInt(flags, "max-per-client", 1000);
  const allowOrigins = allowedOrigins(flags["allow-origin"] as string | undefined);
  const timeout = flags.timeout as number;
  if (!(timeout > 0)) throw new UsageError(`bd3 serve: --timeout must be positive, got ${timeout}`);
  let models: string | ModelSource[] = flags.models as string;
  const isDir = await Deno.stat(models).then((s) => s.isDirectory, () => false);
  if (given.has("models") && (!isDir || await isModelDir(models))) {
    // A model directory, a Hub id, or a comma-separated list of them (Hub ids download first).
    models = await modelList(models);
  } else if (!isDir) {
    // The default directory is optional: the page still serves, with no models to pick.
    console.warn(`no ./${models} directory: serving without models (see --models)`);
    models = [];
  }
  // Built before listening, so the first visitor does not wait for the bundler.
  const appJs = flags["app-js"]
    ? await Deno.readTextFile(flags["app-js"] as string)
    : await buildBrowserBundle();
  const adapter = flags.adapter as string | undefined;
  let session = await acquireTunedGpu(adapter);
  const app = createApp({
    gpu: session.gpu,
    // A lost device (driver reset, GPU fault) is replaced; the server keeps serving.
    restartGpu: async () => {
      try {
        session.release();
      } catch {
        // the lost device may refuse to be destroyed; it is dropped either way
      }
      session = await acquireTunedGpu(adapter);
      return session.gpu;
    },
    models,
    runs: await runsDir(flags.runs as string, given.has("runs"), models),
    appJs,
    maxWaiting,
    maxPerClient,
    generationTimeoutMs: timeout * 1000,
    allowOrigins,
  });
  const server = Deno.serve({
    port,
    hostname: flags.host as string,
    onListen: ({ hostname, port }) =>
      console.log(
        `blockdiff serving on http://${hostname}:${port}/ (adapter: ${session.gpu.info.name}, models: ${
          typeof models === "string" ? models : models.map((m) => m.name ?? m.dir).join(", ")
        })`,
      ),
  }, app.fetch);
  const stop = () => server.shutdown();
  Deno.addSignalListener("SIGINT", stop);
  await server.finished;
  Deno.removeSignalListener("SIGINT", stop);
  app.models[Symbol.dispose]();
  session.release();
  return 0;
}
