import assert from "node:assert/strict";
import { DataError } from "./errors.ts";
import { fileFingerprint, TokenCache } from "./token_cache.ts";

Deno.test("token cache", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "blockdiff-cache-" });
  try {
    const cache = new TokenCache(`${dir}/cache`);
    const docs = [[1, 2, 3], [], [4], Array.from({ length: 50 }, (_, i) => i * 1000 - 7)];
    let builds = 0;
    const build = async function* () {
      builds++;
      for (const d of docs) yield d;
    };
    const collect = async (key: string) => {
      const out: number[][] = [];
      for await (
        const d of cache.documents(key, build, { shardTokens: 4, meta: { what: "test" } })
      ) {
        out.push(Array.from(d));
      }
      return out;
    };
    await t.step("miss builds and writes, hit reads back without building", async () => {
      assert.deepEqual(await collect("k1"), docs);
      assert.equal(builds, 1);
      const m = await cache.manifest("k1");
      assert.deepEqual([m?.documents, m?.tokens, m?.shards], [4, 54, 2]);
      assert.deepEqual(await collect("k1"), docs);
      assert.equal(builds, 1);
      const names = [...Deno.readDirSync(`${dir}/cache`)].map((e) => e.name);
      assert.deepEqual(names, ["k1"]); // no temp dir left behind
    });
    await t.step("an interrupted build leaves no entry", async () => {
      for await (const _ of cache.documents("k2", build)) break;
      assert.equal(await cache.manifest("k2"), undefined);
      assert.deepEqual([...Deno.readDirSync(`${dir}/cache`)].map((e) => e.name), ["k1"]);
    });
    await t.step("corrupt shard is a DataError", async () => {
      await Deno.writeFile(`${dir}/cache/k1/shard-00000.bin.gz`, new Uint8Array([1, 2, 3]));
      await assert.rejects(
        collect("k1"),
        (e: unknown) => e instanceof DataError && /corrupt cache shard/.test(e.message),
      );
    });
    await t.step("file fingerprint follows content", async () => {
      const f = `${dir}/src.txt`;
      await Deno.writeTextFile(f, "abc");
      const a = await fileFingerprint(f);
      assert.equal(await fileFingerprint(f), a);
      await Deno.writeTextFile(f, "abd");
      assert.notEqual(await fileFingerprint(f), a);
      await assert.rejects(fileFingerprint(`${dir}/nope.txt`), DataError);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
