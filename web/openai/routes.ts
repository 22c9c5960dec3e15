/**
 * The OpenAI-compatible API, mounted at /v1 beside the native one and sharing its queue,
 * limits and counters: GET /v1/models, GET /v1/models/:id, POST /v1/completions and
 * POST /v1/chat/completions (a 400: the models have no chat template).
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { GenerateDeps } from "../generate_route.ts";
import { crossOriginGuard, requireJson } from "../safety.ts";
import { chatRoute } from "./chat_route.ts";
import { completionsRoute } from "./completions_route.ts";
import { errorResponse, serverError } from "./errors.ts";
import { getModelRoute, listModelsRoute } from "./models_route.ts";

/** Options of {@link openAiApp}. */
export interface OpenAiAppOptions {
  /** Origins whose pages may call the API (CORS); other cross-origin requests get 403. */
  allowOrigins?: readonly string[];
}

/** The /v1 routes over the native API's `deps` (mount with `app.route("/v1", …)`). */
export function openAiApp(deps: GenerateDeps, opts: OpenAiAppOptions = {}): Hono {
  const v1 = new Hono();
  v1.use(
    "*",
    crossOriginGuard(opts.allowOrigins ?? [], () =>
      errorResponse(
        serverError(
          403,
          "cross-origin requests are refused; start the server with --allow-origin <origin> to allow one",
          "cross_origin_refused",
        ),
      )),
  );
  const json = requireJson(() =>
    errorResponse(
      serverError(
        415,
        "the body must be JSON: send Content-Type: application/json",
        "unsupported_media_type",
      ),
    )
  );
  const limit = bodyLimit({
    maxSize: deps.limits.maxBodyBytes,
    onError: () =>
      errorResponse(
        serverError(413, `the body is over ${deps.limits.maxBodyBytes} bytes`, "body_too_large"),
      ),
  });
  v1.get("/models", listModelsRoute(deps.models));
  v1.get("/models/:id", getModelRoute(deps.models));
  v1.post("/completions", json, limit, async (_c, next) => {
    await deps.models.ready();
    await next();
  }, completionsRoute(deps));
  v1.post("/chat/completions", json, limit, chatRoute(deps.models));
  return v1;
}
