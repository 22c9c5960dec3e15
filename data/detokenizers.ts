/**
 * The reference's detokenizers (docs/design.md, "Data and tokenizers"): pure string functions
 * applied to raw text before tokenization, reproducing the Python rules one for one (including
 * their quirks).
 * @module
 */

const W = String.raw`[\p{L}\p{N}_]`; // Python 3's Unicode \w

/** WikiText (`wt_detokenizer`). */
export function wikitextDetokenize(s: string): string {
  s = s.replaceAll("s '", "s'");
  // The reference's pattern has literal slashes, so it only ever rewrites "/' <digit>/".
  s = s.replace(/\/' [0-9]\//g, "/'[0-9]/");
  s = s.replaceAll(" @-@ ", "-").replaceAll(" @,@ ", ",").replaceAll(" @.@ ", ".");
  for (const p of [":", ";", ".", "!", "?", ","]) s = s.replaceAll(` ${p} `, `${p} `);
  s = s.replace(/\(\s*([^)]*?)\s*\)/g, "($1)");
  s = s.replace(/\[\s*([^\]]*?)\s*\]/g, "[$1]");
  s = s.replace(/\{\s*([^}]*?)\s*\}/g, "{$1}");
  s = s.replace(/"\s*([^"]*?)\s*"/g, '"$1"');
  s = s.replace(/'\s*([^']*?)\s*'/g, "'$1'");
  s = s.replaceAll("= = = =", "====").replaceAll("= = =", "===").replaceAll("= =", "==");
  s = s.replaceAll(" \u00b0 ", "\u00b0");
  s = s.replaceAll(" \n", "\n").replaceAll("\n ", "\n");
  s = s.replaceAll(" N ", " 1 ");
  s = s.replaceAll(" 's", "'s");
  return s;
}

/** Penn Treebank (`ptb_detokenizer`). */
export function ptbDetokenize(s: string): string {
  s = s.replaceAll(" 's", "'s").replaceAll("s ' ", "s' ").replaceAll(" n't", "n't");
  s = s.replaceAll(" \n ", "\n").replaceAll("\\/", "/");
  for (let i = 0; i < 10; i++) s = s.replaceAll(" N ", " 1 ");
  return s.replaceAll("$ 1", "$1").replaceAll("# 1", "#1").replaceAll("<unk>", "?");
}

/** One Billion Words (`lm1b_detokenizer`). */
export function lm1bDetokenize(s: string): string {
  s = s.replaceAll("http : / / ", "http://").replaceAll("https : / / ", "https://");
  s = s.replace(new RegExp(String.raw` '(${W}+)`, "gu"), "'$1");
  s = s.replace(new RegExp(String.raw` (${W}+) \. `, "gu"), " $1. ");
  s = s.replace(new RegExp(String.raw` (${W}+) \.(?=\n?$)`, "u"), " $1.");
  s = s.replaceAll(" ? ", "? ").replace(/ \?(?=\n?$)/, "?");
  s = s.replaceAll(" ! ", "! ").replace(/ !(?=\n?$)/, "!");
  s = s.replaceAll(" , ", ", ").replaceAll(" : ", ": ").replaceAll(" ; ", "; ");
  s = s.replaceAll(" / ", "/");
  s = s.replace(/" ([^"]+) "/g, '"$1"');
  s = s.replace(/' ([^']+) '/g, "'$1'");
  s = s.replace(/\( ([^()]+) \)/g, "($1)");
  s = s.replace(/\[ ([^[\]]+) \]/g, "[$1]");
  return s.replaceAll("$ ", "$").replaceAll("\u00a3 ", "\u00a3");
}

/** LAMBADA (`lambada_detokenizer`): curly double quotes → `"`, strip, prepend a newline. */
export function lambadaDetokenize(s: string): string {
  return "\n" + s.replaceAll("\u201c", '"').replaceAll("\u201d", '"').trim();
}

/** scientific_papers: the WikiText rules, then the LM1B rules. */
export function scientificPapersDetokenize(s: string): string {
  return lm1bDetokenize(wikitextDetokenize(s));
}

/** A detokenizer by dataset name (`wikitext*`, `ptb`, `lm1b*`, `lambada`, `scientific_papers*`). */
export function detokenizerFor(dataset: string): ((s: string) => string) | undefined {
  if (dataset.startsWith("wikitext")) return wikitextDetokenize;
  if (dataset === "ptb") return ptbDetokenize;
  if (dataset.startsWith("lm1b")) return lm1bDetokenize;
  if (dataset === "lambada") return lambadaDetokenize;
  if (dataset.startsWith("scientific_papers")) return scientificPapersDetokenize;
  return undefined;
}
