/**
 * A small, strict command-line flag parser: every flag must be declared, so a typo gets a
 * one-line error naming the flag and the closest known one, never silent acceptance.
 * @module
 */
import { BlockdiffError } from "@blockdiff/core";

/** A declared flag. */
export interface FlagSpec {
  type: "string" | "number" | "boolean";
  /** One-line help. */
  help: string;
  default?: string | number | boolean;
}

/** Parsed flags and positionals. */
export interface Parsed {
  flags: Record<string, string | number | boolean | undefined>;
  positionals: string[];
  /** Flags given on the command line (they win over a config file). */
  given: Set<string>;
}

/** A usage error (exit code 2). */
export class UsageError extends BlockdiffError {
  override readonly exitCode = 2;
}

function closest(name: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return bestD <= Math.max(2, name.length / 3) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}

/** Parses `--name value`, `--name=value`, `--flag`, `--no-flag`. */
export function parseArgs(
  argv: string[],
  specs: Record<string, FlagSpec>,
  command: string,
): Parsed {
  const flags: Parsed["flags"] = {};
  for (const [k, s] of Object.entries(specs)) flags[k] = s.default;
  const positionals: string[] = [];
  const given = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("--")) {
      positionals.push(arg);
      continue;
    }
    let [name, value] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    let spec = specs[name];
    if (!spec && name.startsWith("no-") && specs[name.slice(3)]?.type === "boolean") {
      name = name.slice(3);
      spec = specs[name];
      value = "false";
    }
    if (!spec) {
      const hint = closest(name, Object.keys(specs));
      throw new UsageError(
        `bd3 ${command}: unknown flag --${name}.${hint ? ` Did you mean --${hint}?` : ""} ` +
          `See 'bd3 ${command} --help'.`,
      );
    }
    given.add(name);
    if (spec.type === "boolean") {
      flags[name] = value === undefined ? true : !/^(false|0|no)$/i.test(value);
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`bd3 ${command}: --${name} needs a value`);
    }
    if (spec.type === "number") {
      const n = Number(value);
      if (!Number.isFinite(n)) {
        throw new UsageError(`bd3 ${command}: --${name} must be a number, got '${value}'`);
      }
      flags[name] = n;
    } else {
      flags[name] = value;
    }
  }
  return { flags, positionals, given };
}

/**
 * Fills flags not given on the command line from a JSON config file (keys are flag names,
 * kebab-case or camelCase). Unknown keys and wrong types are usage errors naming the file.
 */
export async function applyConfigFile(
  parsed: Parsed,
  specs: Record<string, FlagSpec>,
  path: string,
  command: string,
): Promise<void> {
  let raw: unknown;
  try {
    raw = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "file not found" : (e as Error).message;
    throw new UsageError(`bd3 ${command}: cannot read config file ${path}: ${why}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new UsageError(`bd3 ${command}: ${path} must hold a JSON object of flag values`);
  }
  for (const [key, value] of Object.entries(raw)) {
    const name = key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
    const spec = specs[name];
    if (!spec || name === "config") {
      throw new UsageError(`bd3 ${command}: ${path}: unknown setting "${key}"`);
    }
    const ok = spec.type === "string"
      ? typeof value === "string" || Array.isArray(value)
      : spec.type === "number"
      ? typeof value === "number"
      : typeof value === "boolean";
    if (!ok) {
      throw new UsageError(`bd3 ${command}: ${path}: "${key}" must be a ${spec.type}`);
    }
    if (!parsed.given.has(name)) {
      parsed.flags[name] = Array.isArray(value)
        ? value.join(",")
        : value as string | number | boolean;
    }
  }
}

/** Formats the flag table of a command's --help. */
export function formatFlags(specs: Record<string, FlagSpec>): string {
  const rows = Object.entries(specs).map(([k, s]) => {
    const v = s.type === "boolean" ? "" : ` <${s.type}>`;
    const d = s.default !== undefined && s.type !== "boolean" ? ` (default ${s.default})` : "";
    return [`  --${k}${v}`, `${s.help}${d}`];
  });
  const w = Math.max(...rows.map((r) => r[0].length)) + 2;
  return rows.map(([a, b]) => a.padEnd(w) + b).join("\n");
}
