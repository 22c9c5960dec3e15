/**
 * GET /v1/models and GET /v1/models/:id: the server's models as OpenAI lists them.
 * @module
 */
import type { Context } from "hono";
import type { ModelInfo, ModelRegistry } from "../models.ts";
import { errorResponse, modelNotFound } from "./errors.ts";

/** One model as OpenAI's `GET /v1/models` lists it. */
export interface OpenAiModel {
  /** The model's name, as requests name it. */
  id: string;
  /** Always `model`. */
  object: "model";
  /** Unix time (s) its weights were written, or 0 when unknown. */
  created: number;
  /** Always `blockdiff`. */
  owned_by: string;
}

/** The OpenAI view of a model. */
export function openAiModel(info: ModelInfo): OpenAiModel {
  // The registry's version is `<size>-<mtime ms>`: the mtime is when the weights were written.
  const mtime = Number(info.version.split("-").at(-1));
  return {
    id: info.name,
    object: "model",
    created: Number.isFinite(mtime) ? Math.floor(mtime / 1000) : 0,
    owned_by: "blockdiff",
  };
}

/** GET /v1/models. */
export function listModelsRoute(models: ModelRegistry): (c: Context) => Promise<Response> {
  return async (c) => {
    await models.refresh();
    return c.json({ object: "list", data: models.list().map(openAiModel) });
  };
}

/** GET /v1/models/:id. */
export function getModelRoute(models: ModelRegistry): (c: Context) => Promise<Response> {
  return async (c) => {
    await models.ready();
    const info = models.info(c.req.param("id") ?? "");
    return info ? c.json(openAiModel(info)) : errorResponse(modelNotFound(c.req.param("id")));
  };
}
