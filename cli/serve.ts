/**
 * `bd3 serve`: serves the web page and JSON API on loopback (or the given host).
 * @module
 */
import { acquireGpu } from "@blockdiff/core/deno";
import { createApp } from "@blockdiff/web";
import { type FlagSpec, formatFlags, parseArgs, UsageError } from "./args.ts";

const FLAGS: Record<string, FlagSpec> = {
  port: { type: "number", help: "port to listen on", default: 8787 },
  host: { type: "string", help: "address to bind", default: "127.0.0.1" },
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
  bd3 serve
  bd3 serve --port 9000 --host 0.0.0.0`;

/** Runs `bd3 serve` until interrupted. */
export async function runServe(argv: string[]): Promise<number> {
  const { flags } = parseArgs(argv, FLAGS, "serve");
  if (flags.help) {
    console.log(SERVE_HELP);
    return 0;
  }
  const port = flags.port as number;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`bd3 serve: --port must be an integer in 0..65535, got ${port}`);
  }
  using session = await acquireGpu({ adapter: flags.adapter as string | undefined });
  const app = createApp({ gpu: session.gpu });
  const server = Deno.serve({
    port,
    hostname: flags.host as string,
    onListen: ({ hostname, port }) =>
      console.log(
        `blockdiff serving on http://${hostname}:${port}/ (adapter: ${session.gpu.info.name})`,
      ),
  }, app.fetch);
  const stop = () => server.shutdown();
  Deno.addSignalListener("SIGINT", stop);
  await server.finished;
  Deno.removeSignalListener("SIGINT", stop);
  return 0;
}
