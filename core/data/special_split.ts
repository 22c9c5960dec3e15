/**
 * Splitting text on special-token strings before normal tokenization (as Hugging Face
 * tokenizers do for their added tokens).
 * @module
 */

/** A piece of text: either plain text or one special token. */
export type Piece = { text: string } | { special: string };

/**
 * Splits `text` on every occurrence of any of `specials` (longest match first at each
 * position). Plain text between them is returned as `{ text }` pieces (never empty).
 */
export function splitOnSpecials(text: string, specials: readonly string[]): Piece[] {
  const list = specials.filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  if (list.length === 0) return text ? [{ text }] : [];
  const escaped = list.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const re = new RegExp(escaped.join("|"), "g");
  const out: Piece[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last) out.push({ text: text.slice(last, m.index) });
    out.push({ special: m[0] });
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push({ text: text.slice(last) });
  return out;
}
