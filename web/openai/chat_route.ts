/**
 * POST /v1/chat/completions: the bundled models are plain language models without a chat
 * template (no `chat_template` in a tokenizer_config.json), so chat requests are answered with
 * a 400 that says so and points at /v1/completions.
 * @module
 */
import type { Context } from "hono";
import type { ModelRegistry } from "../models.ts";
import { errorResponse, invalidRequest, modelNotFound } from "./errors.ts";

/** The route handler. */
export function chatRoute(models: ModelRegistry): (c: Context) => Promise<Response> {
  return async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return errorResponse(
        invalidRequest("the body must be JSON (a chat completion request object)"),
      );
    }
    const model = (body as { model?: unknown } | null)?.model;
    if (typeof model !== "string") {
      return errorResponse(
        invalidRequest("model must be the name of a listed model (GET /v1/models)", "model"),
      );
    }
    await models.ready();
    if (!models.info(model)) return errorResponse(modelNotFound(model));
    return errorResponse(
      invalidRequest(
        `the model ${JSON.stringify(model)} has no chat template (it is a plain language model); ` +
          "use POST /v1/completions with a prompt instead",
        "model",
        "no_chat_template",
      ),
    );
  };
}
