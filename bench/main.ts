/**
 * Entry of `deno task bench [suite...]`: the same as `bd3 bench`.
 * @module
 */
import { main, reportError } from "../cli/main.ts";

try {
  Deno.exit(await main(["bench", ...Deno.args]));
} catch (e) {
  Deno.exit(reportError(e));
}
