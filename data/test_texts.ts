/**
 * Shared strings for the tokenizer tests: English prose, Unicode and whitespace edge cases.
 * @module
 */

/** A paragraph of ordinary English. */
export const ENGLISH =
  "The quick brown fox jumps over the lazy dog. It wasn't the first time; in 1999, " +
  "scientists (and a few journalists) noted that foxes can't resist jumping!";

/** Accents, emoji, CJK and other scripts. */
export const UNICODE = [
  "café naïve résumé Ångström",
  "emoji 😀👍🏽 and ❤️",
  "東京は日本の首都です",
  "Здравствуй, мир",
];

/** Whitespace edge cases. */
export const WHITESPACE = [
  "  leading",
  "trailing  ",
  "multiple   spaces",
  "new\nlines\n\n",
  "\ttabs\tand\r\n",
  "",
];
