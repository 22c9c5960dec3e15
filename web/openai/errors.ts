/**
 * OpenAI-style error objects: `{"error": {"message", "type", "param", "code"}}` with the HTTP
 * status OpenAI's clients expect for each kind (their SDKs map the status to an exception class
 * and show `message`).
 * @module
 */

/** The `error` member of an OpenAI error body. */
export interface OpenAiErrorBody {
  /** What is wrong and how to fix it (shown by the clients). */
  message: string;
  /** Category, e.g. `invalid_request_error`, `server_error`, `rate_limit_error`. */
  type: string;
  /** The request field at fault, or null. */
  param: string | null;
  /** A machine-readable code (e.g. `model_not_found`), or null. */
  code: string | null;
}

/** An error with its HTTP status, ready to answer. */
export interface OpenAiError {
  /** HTTP status of the answer. */
  status: number;
  /** The body's `error` member. */
  error: OpenAiErrorBody;
  /** Extra response headers (e.g. Retry-After). */
  headers?: Record<string, string>;
}

/** A 400 `invalid_request_error` about `param`. */
export function invalidRequest(
  message: string,
  param: string | null = null,
  code: string | null = null,
): OpenAiError {
  return { status: 400, error: { message, type: "invalid_request_error", param, code } };
}

/** A 404 `model_not_found` for a model the server does not offer. */
export function modelNotFound(model: unknown): OpenAiError {
  const name = typeof model === "string" ? JSON.stringify(model.slice(0, 128)) : "given";
  return {
    status: 404,
    error: {
      message: `the model ${name} does not exist; list the models with GET /v1/models`,
      type: "invalid_request_error",
      param: "model",
      code: "model_not_found",
    },
  };
}

/** Any other error: `type` from the status (5xx `server_error`, 429 `rate_limit_error`). */
export function serverError(
  status: number,
  message: string,
  code: string | null = null,
  headers?: Record<string, string>,
): OpenAiError {
  const type = status === 429
    ? "rate_limit_error"
    : status >= 500
    ? "server_error"
    : "invalid_request_error";
  return { status, error: { message, type, param: null, code }, headers };
}

/** The JSON response for `e`. */
export function errorResponse(e: OpenAiError): Response {
  return new Response(JSON.stringify({ error: e.error }), {
    status: e.status,
    headers: { "content-type": "application/json; charset=utf-8", ...e.headers },
  });
}
