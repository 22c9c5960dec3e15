/**
 * Reading an omegaconf `DictConfig` out of an unpickled checkpoint without omegaconf: a pickled
 * config is a tree of inert {@linkcode PyObject}s whose state holds `_content` (containers) or
 * `_val` (value nodes). {@linkcode omegaconfToPlain} turns it into plain JSON-like values and
 * {@linkcode configValue} reads one dotted key, following plain `${a.b}` interpolations.
 * @module
 */
import { CheckpointError } from "../errors.ts";
import { PyObject, PyTuple, TorchTensor } from "./unpickle.ts";

/** A plain value of a config tree. */
export type PlainValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | PlainValue[]
  | { [key: string]: PlainValue };

const MAX_DEPTH = 64;

/**
 * Converts a pickled omegaconf container (or a plain dict/list holding some) to plain values.
 * Objects of other classes become the string `<module.Class object>`; `_parent` back-links are
 * not followed. Throws {@linkcode CheckpointError} past 64 levels of nesting.
 */
export function omegaconfToPlain(v: unknown, name = "config", depth = 0): PlainValue {
  if (depth > MAX_DEPTH) {
    throw new CheckpointError(`${name}: nests deeper than ${MAX_DEPTH} levels`);
  }
  if (v === null || typeof v === "boolean" || typeof v === "number" || typeof v === "bigint") {
    return v;
  }
  if (typeof v === "string") return v;
  if (v instanceof PyObject) {
    const state = v.state instanceof Map ? v.state : null;
    if (v.className.startsWith("omegaconf.") && state) {
      if (state.has("_content")) return omegaconfToPlain(state.get("_content"), name, depth + 1);
      if (state.has("_val")) return omegaconfToPlain(state.get("_val"), name, depth + 1);
    }
    return `<${v.className} object>`;
  }
  if (v instanceof Map) {
    const out: { [key: string]: PlainValue } = {};
    for (const [k, x] of v) out[String(k)] = omegaconfToPlain(x, name, depth + 1);
    return out;
  }
  if (Array.isArray(v) || v instanceof PyTuple) {
    return (Array.isArray(v) ? v : v.items).map((x) => omegaconfToPlain(x, name, depth + 1));
  }
  if (v instanceof TorchTensor) return `<tensor>`;
  return `<${typeof v}>`;
}

function lookup(root: PlainValue, path: string): PlainValue | undefined {
  let at: PlainValue | undefined = root;
  for (const part of path.split(".")) {
    if (at === null || typeof at !== "object" || Array.isArray(at) || !(part in at)) {
      return undefined;
    }
    at = at[part];
  }
  return at;
}

/**
 * The value at dotted `path` of a plain config, following `${a.b}` interpolations (absolute
 * paths only; resolvers such as `${eval:…}` are left as their text). Undefined when absent.
 */
export function configValue(root: PlainValue, path: string): PlainValue | undefined {
  let v = lookup(root, path);
  for (let hops = 0; hops < 16 && typeof v === "string"; hops++) {
    const m = /^\$\{([A-Za-z_][A-Za-z0-9_.]*)\}$/.exec(v);
    if (!m) break;
    v = lookup(root, m[1]);
  }
  return v;
}
