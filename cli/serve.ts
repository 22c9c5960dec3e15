/**
 * `bd3 serve`: serves the web page (generation in the server's GPU or the visitor's browser,
 * training curves) and the JSON API on loopback (or the given host).
 * @module
 */
import { acquireTunedGpu } from "./gpu.ts";
import { buildBrowserBundle, createApp, DEFAULT_LIMITS } from "@blockdiff/web";
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
  host: { type: "string", help: "address to bind", default: "127.0.0.1" },
  models: {
    type: "string",
    help: "directory of models (each child a model directory or a training run)",
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

Examples:
  bd3 serve --models runs
  bd3 serve --port 9000 --host 0.0.0.0 --models /srv/models --max-waiting 8`;

function nonNegativeInt(flags: Record<string, unknown>, name: string, max: number): number {
  const v = flags[name] as number;
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new UsageError(`bd3 serve: --${name} must be an integer in 0..${max}, got ${v}`);
  }
  return v;
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
  const timeout = flags.timeout as number;
  if (!(timeout > 0)) throw new UsageError(`bd3 serve: --timeout must be positive, got ${timeout}`);
  let models: string | string[] = flags.models as string;
  const isDir = await Deno.stat(models).then((s) => s.isDirectory, () => false);
  if (!isDir && given.has("models")) {
    throw new UsageError(
      `bd3 serve: --models ${models} is not a directory (train into it: bd3 train --out ${models}/<name>)`,
    );
  }
  if (!isDir) {
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
    runs: flags.runs as string | undefined,
    appJs,
    maxWaiting,
    maxPerClient,
    generationTimeoutMs: timeout * 1000,
  });
  const server = Deno.serve({
    port,
    hostname: flags.host as string,
    onListen: ({ hostname, port }) =>
      console.log(
        `blockdiff serving on http://${hostname}:${port}/ (adapter: ${session.gpu.info.name}, models: ${models})`,
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
