/**
 * Plain-text tables for evaluation results: aligned columns, numbers at a fixed precision,
 * readable in a terminal and valid Markdown.
 * @module
 */

/** One column: the row key, a header, and digits after the point for numbers. */
export interface Column {
  /** Key of the row field shown in the column. */
  key: string;
  /** Header text. Default: `key`. */
  label?: string;
  /** Digits after the point for non-integer numbers. Default 3. */
  digits?: number;
}

function cell(v: unknown, digits: number): string {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number") {
    if (!Number.isFinite(v)) return String(v);
    return Number.isInteger(v) ? String(v) : v.toFixed(digits);
  }
  if (typeof v === "boolean") return v ? "yes" : "no";
  return String(v);
}

/**
 * A Markdown table of `rows` (objects) over `columns` (default: every key of the first row).
 * Numbers are right-aligned; missing values show as "–".
 */
export function formatTable(
  rows: readonly Record<string, unknown>[],
  columns?: readonly (Column | string)[],
): string {
  const cols: Column[] = (columns ?? Object.keys(rows[0] ?? {})).map((c) =>
    typeof c === "string" ? { key: c } : c
  );
  const header = cols.map((c) => c.label ?? c.key);
  const body = rows.map((r) => cols.map((c) => cell(r[c.key], c.digits ?? 3)));
  const numeric = cols.map((c) => rows.some((r) => typeof r[c.key] === "number"));
  const width = cols.map((_, j) => Math.max(header[j].length, ...body.map((b) => b[j].length), 3));
  const line = (cells: string[]) =>
    "| " +
    cells.map((s, j) => (numeric[j] ? s.padStart(width[j]) : s.padEnd(width[j]))).join(" | ") +
    " |";
  const rule = "|" + width.map((w, j) => (numeric[j] ? "-".repeat(w + 1) + ":" : "-".repeat(w + 2)))
    .join("|") +
    "|";
  return [line(header), rule, ...body.map(line)].join("\n");
}
