/**
 * BERT's BasicTokenizer (the step before WordPiece): text clean-up, CJK spacing, NFC,
 * lower-casing, accent stripping and punctuation splitting, following the Hugging Face
 * `BasicTokenizer` rules.
 * @module
 */

/** Options of {@link basicTokenize}. */
export interface BasicTokenizerOptions {
  /** Lower-case every word. Default true (bert-base-uncased). */
  lowercase?: boolean;
  /** Strip accents (NFD, drop combining marks). Default: same as `lowercase`. */
  stripAccents?: boolean;
  /** Put spaces around CJK ideographs so each is its own word. Default true. */
  handleChineseChars?: boolean;
  /** Drop control characters and map all whitespace to spaces. Default true. */
  cleanText?: boolean;
}

const CONTROL = /\p{C}/u;
const SPACE_SEP = /\p{Zs}/u;
const PUNCT = /\p{P}/u;
const MARK_NONSPACING = /\p{Mn}/gu;

/** True for the characters BERT treats as whitespace (space, \t, \n, \r, category Zs). */
export function isBertWhitespace(ch: string): boolean {
  return ch === " " || ch === "\t" || ch === "\n" || ch === "\r" || SPACE_SEP.test(ch);
}

/** True for control characters (category C*), except \t, \n and \r. */
export function isBertControl(ch: string): boolean {
  if (ch === "\t" || ch === "\n" || ch === "\r") return false;
  return CONTROL.test(ch);
}

/** True for ASCII symbols (33–47, 58–64, 91–96, 123–126) and Unicode punctuation (P*). */
export function isBertPunctuation(ch: string): boolean {
  const cp = ch.codePointAt(0)!;
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96)) return true;
  if (cp >= 123 && cp <= 126) return true;
  return PUNCT.test(ch);
}

/** True for code points in the CJK Unified Ideographs blocks BERT spaces out. */
export function isCjk(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) || (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

function cleanText(text: string): string {
  let out = "";
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0 || cp === 0xfffd || isBertControl(ch)) continue;
    out += isBertWhitespace(ch) ? " " : ch;
  }
  return out;
}

function spaceCjk(text: string): string {
  let out = "";
  for (const ch of text) out += isCjk(ch.codePointAt(0)!) ? ` ${ch} ` : ch;
  return out;
}

function splitPunctuation(word: string): string[] {
  const out: string[] = [];
  let cur = "";
  for (const ch of word) {
    if (isBertPunctuation(ch)) {
      if (cur) out.push(cur);
      out.push(ch);
      cur = "";
    } else {
      cur += ch;
    }
  }
  if (cur) out.push(cur);
  return out;
}

/** Splits text into BERT "basic" words (before WordPiece). */
export function basicTokenize(text: string, options: BasicTokenizerOptions = {}): string[] {
  const lowercase = options.lowercase ?? true;
  const stripAccents = options.stripAccents ?? lowercase;
  if (options.cleanText ?? true) text = cleanText(text);
  if (options.handleChineseChars ?? true) text = spaceCjk(text);
  text = text.normalize("NFC");
  const out: string[] = [];
  for (let word of text.split(/[ \t\n\r]+/)) {
    if (!word) continue;
    if (lowercase) word = word.toLowerCase();
    if (stripAccents) word = word.normalize("NFD").replace(MARK_NONSPACING, "");
    for (const piece of splitPunctuation(word)) out.push(piece);
  }
  return out;
}
