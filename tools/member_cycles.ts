/**
 * Import discipline between workspace members.
 *
 * Reads the members from the root deno.json, collects every import between them (bare
 * `@blockdiff/<name>` specifiers and relative paths), prints the member graph, and exits 1 when
 * a relative path crosses a member boundary or when the members import each other in a cycle.
 * Test files count too: a test that reaches into another member is still a dependency.
 *
 * Run from the repository root: `deno run --allow-read tools/member_cycles.ts`.
 *
 * @module
 */

import { dirname, join, normalize, relative } from "node:path";

interface Config {
  workspace?: string[];
  name?: string;
}

const root = Deno.cwd();

function readConfig(path: string): Config {
  return JSON.parse(Deno.readTextFileSync(path)) as Config;
}

const members = (readConfig(join(root, "deno.json")).workspace ?? []).map((m) => normalize(m));
/** `@blockdiff/core` → `core`. */
const byName = new Map<string, string>();
for (const m of members) {
  const name = readConfig(join(root, m, "deno.json")).name;
  if (name) byName.set(name, m);
}

/** The member holding a repository-relative path, or undefined for paths outside every member. */
function memberOf(rel: string): string | undefined {
  return members.find((m) => rel === m || rel.startsWith(m + "/"));
}

/** The member a bare specifier names (`@blockdiff/model/io` → `model`), if any. */
function memberOfSpecifier(spec: string): string | undefined {
  const parts = spec.split("/");
  return byName.get(spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]);
}

function* sourceFiles(dir: string): Generator<string> {
  for (const entry of Deno.readDirSync(dir)) {
    if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* sourceFiles(path);
    else if (/\.(ts|tsx|js|mjs)$/.test(entry.name)) yield path;
  }
}

// Static imports and re-exports (`import x from "s"`, `export * from "s"`, `import "s"`) and
// dynamic imports with a literal specifier. Comments are stripped first so prose is not matched.
const importPattern =
  /(?:^|[\s;}])(?:import|export)\s[^'"`;]*?from\s*["']([^"']+)["']|(?:^|[\s;])import\s*["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/g;

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

const edges = new Map<string, Set<string>>(members.map((m) => [m, new Set<string>()]));
const crossings: string[] = [];

for (const m of members) {
  for (const file of sourceFiles(join(root, m))) {
    const fromRel = relative(root, file);
    const src = stripComments(Deno.readTextFileSync(file));
    for (const match of src.matchAll(importPattern)) {
      const spec = match[1] ?? match[2] ?? match[3];
      let target: string | undefined;
      if (spec.startsWith(".")) {
        const targetRel = relative(root, normalize(join(dirname(file), spec)));
        target = memberOf(targetRel);
        if (target !== m) {
          crossings.push(`${fromRel}: "${spec}" reaches ${target ?? targetRel}`);
        }
      } else {
        target = memberOfSpecifier(spec);
      }
      if (target && target !== m) edges.get(m)!.add(target);
    }
  }
}

console.log("member graph (imports point downward):");
for (const m of members) console.log(`  ${m} -> ${[...edges.get(m)!].sort().join(", ") || "-"}`);

/** Every elementary cycle found by depth-first search, each reported once. */
function findCycles(): string[][] {
  const cycles: string[][] = [];
  const seen = new Set<string>();
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (u: string) => {
    state.set(u, 1);
    stack.push(u);
    for (const v of edges.get(u)!) {
      if (state.get(v) === 1) {
        const cycle = stack.slice(stack.indexOf(v));
        const key = [...cycle].sort().join(",");
        if (!seen.has(key)) {
          seen.add(key);
          cycles.push([...cycle, v]);
        }
      } else if (!state.has(v)) visit(v);
    }
    stack.pop();
    state.set(u, 2);
  };
  for (const m of members) if (!state.has(m)) visit(m);
  return cycles;
}

const cycles = findCycles();
for (const c of cycles) console.error(`cycle between members: ${c.join(" -> ")}`);
for (const c of crossings) {
  console.error(
    `relative import crosses a member boundary (use the @blockdiff/<member> entry): ${c}`,
  );
}
if (cycles.length > 0 || crossings.length > 0) Deno.exit(1);
console.log("no cycles, no relative imports across members");
