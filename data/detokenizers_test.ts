import assert from "node:assert/strict";
import {
  detokenizerFor,
  lambadaDetokenize,
  lm1bDetokenize,
  ptbDetokenize,
  scientificPapersDetokenize,
  wikitextDetokenize,
} from "./detokenizers.ts";

Deno.test("detokenizers", async (t) => {
  await t.step("wikitext", () => {
    assert.equal(wikitextDetokenize("the 1 @,@ 000 @-@ year old @.@ 5"), "the 1,000-year old.5");
    assert.equal(wikitextDetokenize(" = = Early life = = \n"), " == Early life ==\n");
    assert.equal(
      wikitextDetokenize("he said , ( see below ) that it 's fine ."),
      "he said, (see below) that it's fine .",
    );
    assert.equal(wikitextDetokenize("the players ' union"), "the players' union");
    assert.equal(wikitextDetokenize("at 30 ° C and N people"), "at 30°C and 1 people");
    assert.equal(wikitextDetokenize("a N b"), "a 1 b");
    assert.equal(wikitextDetokenize('" quoted "'), '"quoted"');
  });
  await t.step("ptb", () => {
    assert.equal(ptbDetokenize("it 's the dogs ' bone , do n't"), "it's the dogs' bone , don't");
    assert.equal(ptbDetokenize("a N N N b $ N and # N 1\\/2 <unk>"), "a 1 1 1 b $1 and #1 1/2 ?");
    assert.equal(ptbDetokenize("end \n start"), "end\nstart");
  });
  await t.step("lm1b", () => {
    assert.equal(
      lm1bDetokenize("see http : / / example.com , he said ; it 's over ."),
      "see http://example.com, he said; it's over.",
    );
    assert.equal(lm1bDetokenize("what ? really ! yes"), "what? really! yes");
    assert.equal(lm1bDetokenize("is it ?"), "is it?");
    assert.equal(
      lm1bDetokenize('he said " hi there " ( quietly ) [ sic ]'),
      'he said "hi there" (quietly) [sic]',
    );
    assert.equal(lm1bDetokenize("$ 5 and £ 3 and / or"), "$5 and £3 and/or");
    assert.equal(lm1bDetokenize("the end ."), "the end.");
    assert.equal(lm1bDetokenize("Zürich ist schön ."), "Zürich ist schön.");
  });
  await t.step("lambada and scientific papers", () => {
    assert.equal(lambadaDetokenize("  \u201cHi,\u201d she said. "), '\n"Hi," she said.');
    assert.equal(scientificPapersDetokenize("a @-@ b , c ."), "a-b, c.");
  });
  await t.step("by dataset name", () => {
    assert.equal(detokenizerFor("wikitext103"), wikitextDetokenize);
    assert.equal(detokenizerFor("lm1b-wrap"), lm1bDetokenize);
    assert.equal(detokenizerFor("ptb"), ptbDetokenize);
    assert.equal(detokenizerFor("lambada"), lambadaDetokenize);
    assert.equal(detokenizerFor("openwebtext"), undefined);
  });
});
