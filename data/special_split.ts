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
  // A scan rather than one big alternation RegExp: a tokenizer file may hold huge or many
  // special strings, and a RegExp of them can exceed the engine's size limit.
  const byFirst = new Map<string, string[]>();
  for (const sp of list) {
    const k = sp[0];
    const bucket = byFirst.get(k);
    if (bucket) bucket.push(sp);
    else byFirst.set(k, [sp]);
  }
  const out: Piece[] = [];
  let last = 0;
  let i = 0;
  while (i < text.length) {
    const match = byFirst.get(text[i])?.find((sp) => text.startsWith(sp, i));
    if (!match) {
      i++;
      continue;
    }
    if (i > last) out.push({ text: text.slice(last, i) });
    out.push({ special: match });
    i += match.length;
    last = i;
  }
  if (last < text.length) out.push({ text: text.slice(last) });
  return out;
}
