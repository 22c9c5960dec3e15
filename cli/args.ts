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
  /** Numbers: the value must be a whole number. */
  integer?: boolean;
  /** Numbers: the smallest value accepted (inclusive unless `minExclusive`). */
  min?: number;
  /** Numbers: `min` itself is refused. */
  minExclusive?: boolean;
  /** Numbers: the largest value accepted (inclusive unless `maxExclusive`). */
  max?: number;
  /** Numbers: `max` itself is refused. */
  maxExclusive?: boolean;
  /** Strings: the only values accepted; the help lists exactly these. */
  choices?: readonly string[];
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

/** Options of {@linkcode parseArgs}. */
export interface ParseOptions {
  /** How many positional arguments the command takes (default 0: any is a stray argument). */
  positionals?: number | "any";
}

/** True when `-h` or `--help` appears anywhere before a `--`. */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === "--") return false;
    if (a === "-h" || a === "--help" || a === "--help=true") return true;
  }
  return false;
}

/** The range a number flag accepts, in words ("an integer ≥ 1", "in [0, 1)"). */
export function describeRange(spec: FlagSpec): string {
  const kind = spec.integer ? "an integer" : "a number";
  const { min, max } = spec;
  if (min !== undefined && max !== undefined) {
    return `${kind} in ${spec.minExclusive ? "(" : "["}${min}, ${max}${
      spec.maxExclusive ? ")" : "]"
    }`;
  }
  if (min !== undefined) return `${kind} ${spec.minExclusive ? ">" : "≥"} ${min}`;
  if (max !== undefined) return `${kind} ${spec.maxExclusive ? "<" : "≤"} ${max}`;
  return kind;
}

/** Checks a value against its flag's type, range and choices; throws a {@linkcode UsageError}. */
export function checkFlagValue(
  name: string,
  spec: FlagSpec,
  value: string | number | boolean,
  command: string,
): void {
  if (spec.type === "number" && typeof value === "number") {
    const bad = !Number.isFinite(value) ||
      (spec.integer && !Number.isSafeInteger(value)) ||
      (spec.min !== undefined && (spec.minExclusive ? value <= spec.min : value < spec.min)) ||
      (spec.max !== undefined && (spec.maxExclusive ? value >= spec.max : value > spec.max));
    if (bad) {
      throw new UsageError(
        `bd3 ${command}: --${name} must be ${describeRange(spec)}, got ${value}`,
      );
    }
  }
  if (spec.type === "string" && spec.choices && !spec.choices.includes(String(value))) {
    throw new UsageError(
      `bd3 ${command}: --${name} must be one of ${spec.choices.join(", ")}, got '${value}'`,
    );
  }
}

/**
 * Parses `--name value`, `--name=value`, `--flag`, `--no-flag`. Every flag must be declared,
 * numbers are checked against their range and strings against their choices, and positional
 * arguments beyond what the command takes are refused. `-h`/`--help` anywhere returns only
 * `help: true` (the command then prints its help and does nothing else).
 */
export function parseArgs(
  argv: string[],
  specs: Record<string, FlagSpec>,
  command: string,
  options: ParseOptions = {},
): Parsed {
  const flags: Parsed["flags"] = {};
  for (const [k, s] of Object.entries(specs)) flags[k] = s.default;
  const positionals: string[] = [];
  const given = new Set<string>();
  if (wantsHelp(argv)) {
    flags.help = true;
    given.add("help");
    return { flags, positionals, given };
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("--")) {
      if (/^-[A-Za-z]/.test(arg)) {
        const name = arg.replace(/^-+/, "").split("=")[0];
        const hint = specs[name] ? name : closest(name, Object.keys(specs));
        throw new UsageError(
          `bd3 ${command}: unknown flag ${arg.split("=")[0]}: flags start with two dashes${
            hint ? ` (did you mean --${hint}?)` : ""
          }. See 'bd3 ${command} --help'.`,
        );
      }
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
      if (value !== undefined && !/^(true|false|1|0|yes|no)$/i.test(value)) {
        throw new UsageError(
          `bd3 ${command}: --${name} takes no value (or true/false), got '${value}'`,
        );
      }
      flags[name] = value === undefined ? true : /^(true|1|yes)$/i.test(value);
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`bd3 ${command}: --${name} needs a value`);
    }
    if (spec.type === "number") {
      const n = value.trim() === "" ? NaN : Number(value);
      if (!Number.isFinite(n)) {
        throw new UsageError(`bd3 ${command}: --${name} must be a number, got '${value}'`);
      }
      checkFlagValue(name, spec, n, command);
      flags[name] = n;
    } else {
      checkFlagValue(name, spec, value, command);
      flags[name] = value;
    }
  }
  const allowed = options.positionals ?? 0;
  if (allowed !== "any" && positionals.length > allowed) {
    const stray = positionals.slice(allowed).map((p) => `'${p}'`).join(", ");
    throw new UsageError(
      `bd3 ${command}: unexpected argument ${stray}: every setting is a --flag. ` +
        `See 'bd3 ${command} --help'.`,
    );
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
    if (!Array.isArray(value)) {
      checkFlagValue(name, spec, value as string | number | boolean, command);
    }
    if (!parsed.given.has(name)) {
      parsed.flags[name] = Array.isArray(value)
        ? value.join(",")
        : value as string | number | boolean;
      // Set by the user, only in a file: it counts as given (e.g. against a resumed run).
      parsed.given.add(name);
    }
  }
}

/** Formats the flag table of a command's --help. */
export function formatFlags(specs: Record<string, FlagSpec>): string {
  const rows = Object.entries(specs).map(([k, s]) => {
    const v = s.type === "boolean" ? "" : s.choices ? ` <${s.choices.join("|")}>` : ` <${s.type}>`;
    const d = s.default !== undefined && s.type !== "boolean" ? ` (default ${s.default})` : "";
    const range = s.type === "number" && (s.min !== undefined || s.max !== undefined)
      ? `; ${describeRange(s)}`
      : "";
    return [`  --${k}${v}`, `${s.help}${d}${range}`];
  });
  const w = Math.max(...rows.map((r) => r[0].length)) + 2;
  return rows.map(([a, b]) => a.padEnd(w) + b).join("\n");
}
