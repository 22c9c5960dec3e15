import assert from "node:assert/strict";
import { join } from "node:path";
import { Rng } from "@blockdiff/core/testing";
import type { Sink } from "./_atomic.ts";
import { CheckpointError, IoError, SafetensorsError } from "./errors.ts";
import { f32Tensor } from "./host_tensor.ts";
import {
  checkpointFileName,
  LATEST_FILE,
  latestCheckpointPath,
  listCheckpoints,
  loadLatestCheckpoint,
  loadTrainingCheckpoint,
  saveTrainingCheckpoint,
} from "./training_checkpoint.ts";
import { assertFixture, BIG, fixtureState, TINY } from "./testdata/checkpoint_fixture.ts";

const FIXTURE = new URL("./testdata/checkpoint_fixture.ts", import.meta.url).pathname;

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("training checkpoints", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "blockdiff-ckpt-" });
  try {
    await t.step("save then load round trip, latest pointer, retention", async () => {
      const dir = join(root, "rt");
      assert.equal(await loadLatestCheckpoint(dir), null);
      for (const step of [10, 20, 30]) {
        await saveTrainingCheckpoint(dir, fixtureState(TINY, step), { keep: 2 });
      }
      const s = await loadLatestCheckpoint(dir);
      assert.ok(s);
      assert.equal(s.step, 30);
      assert.deepEqual(s.config, TINY);
      assert.deepEqual(s.dataPosition, { epoch: 0, offset: 30 * 512, shard: "owt-000" });
      assert.deepEqual(s.extra, { lr: 3e-4 });
      assertFixture(TINY, s);
      assert.deepEqual(
        (await listCheckpoints(dir)).map((c) => c.step),
        [20, 30],
      );
      assert.equal(
        (await Deno.readTextFile(join(dir, LATEST_FILE))).trim(),
        checkpointFileName(30),
      );
      // Without a pointer, the newest complete file is used.
      await Deno.remove(join(dir, LATEST_FILE));
      assert.equal(await latestCheckpointPath(dir), join(dir, checkpointFileName(30)));
      // Without EMA.
      const noEma = { ...fixtureState(TINY, 40), ema: null };
      await saveTrainingCheckpoint(dir, noEma);
      assert.equal((await loadLatestCheckpoint(dir))?.ema, null);
    });

    await t.step("invalid states are refused before anything is written", async () => {
      const dir = join(root, "invalid");
      const s = fixtureState(TINY, 1);
      const m = new Map(s.adamV);
      m.delete("backbone.blocks.0.norm2.weight");
      await assert.rejects(
        () => saveTrainingCheckpoint(dir, { ...s, adamV: m }),
        /\(adam_v\): missing tensor "backbone\.blocks\.0\.norm2\.weight" \[8\]/,
      );
      const w = new Map(s.weights).set("backbone.extra", f32Tensor([1]));
      await assert.rejects(
        () => saveTrainingCheckpoint(dir, { ...s, weights: w }),
        /unexpected tensor "backbone\.extra"/,
      );
      await assert.rejects(() => saveTrainingCheckpoint(dir, { ...s, step: -1 }), CheckpointError);
      await assert.rejects(
        () => saveTrainingCheckpoint(dir, { ...s, rng: 1n as never }),
        /rng is not JSON/,
      );
      assert.deepEqual(await listCheckpoints(dir), []);
    });

    await t.step("truncated or corrupted files give clear errors naming the file", async () => {
      const dir = join(root, "corrupt");
      const path = await saveTrainingCheckpoint(dir, fixtureState(TINY, 5));
      const bytes = await Deno.readFile(path);
      const rng = new Rng(3);
      for (let k = 0; k < 4; k++) {
        const cut = rng.int(0, bytes.length - 1);
        await Deno.writeFile(path, bytes.subarray(0, cut));
        await assert.rejects(() => loadTrainingCheckpoint(path), (e: unknown) => {
          assert.ok(e instanceof SafetensorsError, String(e));
          assert.ok(e.message.startsWith(path + ":"), e.message);
          assert.match(e.message, /truncated|too short/);
          return true;
        });
      }
      const flipped = bytes.slice();
      flipped[flipped.length - 3] ^= 0x40;
      await Deno.writeFile(path, flipped);
      await assert.rejects(() => loadTrainingCheckpoint(path), /fails its CRC-32 check/);
      const other = join(dir, "plain.safetensors");
      await Deno.writeFile(other, bytes.subarray(0, 8)); // header length only
      await assert.rejects(
        () => loadTrainingCheckpoint(other),
        /plain\.safetensors: header length/,
      );
    });

    await t.step(
      "a writer that dies before the rename leaves the previous checkpoint",
      async () => {
        const dir = join(root, "partial");
        await saveTrainingCheckpoint(dir, fixtureState(TINY, 1));
        // A half-written temporary file, as a killed writer leaves it.
        const full = await Deno.readFile(join(dir, checkpointFileName(1)));
        await Deno.writeFile(
          join(dir, `.${checkpointFileName(2)}.tmp-999-abc`),
          full.subarray(0, 100),
        );
        const s = await loadLatestCheckpoint(dir);
        assert.equal(s?.step, 1);
        assertFixture(TINY, s!);
        await saveTrainingCheckpoint(dir, fixtureState(TINY, 2));
        assert.ok(!(await names(dir)).some((n) => n.includes(".tmp-")), "stale temp removed");
      },
    );

    await t.step("a full disk gives a clear error and no half file", async () => {
      const dir = join(root, "full");
      await saveTrainingCheckpoint(dir, fixtureState(TINY, 1));
      const before = await names(dir);
      // Real ENOSPC from the OS: the temporary file is /dev/full.
      const devFull = await Deno.stat("/dev/full").then(() => true, () => false);
      if (devFull) {
        await assert.rejects(
          () =>
            saveTrainingCheckpoint(dir, fixtureState(TINY, 2), {
              openTemp: () => Deno.open("/dev/full", { write: true }),
            }),
          (e: unknown) => {
            assert.ok(e instanceof IoError);
            assert.match(e.message, /ckpt-000000000002\.safetensors: could not write: disk full/);
            return true;
          },
        );
      }
      // The disk fills after 1000 bytes of a real temporary file.
      let written = 0;
      const failing = async (p: string): Promise<Sink> => {
        const f = await Deno.open(p, { write: true, createNew: true });
        return {
          write: (b) => {
            if (written + b.length > 1000) {
              const e = new Error("No space left on device (os error 28)") as Error & {
                code: string;
              };
              e.code = "ENOSPC";
              return Promise.reject(e);
            }
            written += b.length;
            return f.write(b);
          },
          sync: () => f.sync(),
          close: () => f.close(),
        };
      };
      await assert.rejects(
        () => saveTrainingCheckpoint(dir, fixtureState(TINY, 2), { openTemp: failing }),
        /disk full.*previous file, if any, is unchanged/,
      );
      assert.deepEqual(await names(dir), before);
      const s = await loadLatestCheckpoint(dir);
      assert.equal(s?.step, 1);
    });

    await t.step(
      "SIGKILL at random moments during writes never breaks the latest checkpoint",
      async () => {
        const dir = join(root, "kill");
        await saveTrainingCheckpoint(dir, fixtureState(BIG, 0));
        const rng = new Rng(2024);
        let step = 1;
        let midWrite = 0;
        for (let round = 0; round < 4; round++) {
          const child = new Deno.Command(Deno.execPath(), {
            args: ["run", "-A", "--no-lock", FIXTURE, dir, String(step)],
            stdout: "null",
            stderr: "null",
          }).spawn();
          // Wait until the child has a temporary file open, then kill it after a random delay
          // (zero in the first round, so that at least one kill lands mid-write).
          const deadline = Date.now() + 20_000;
          while (!(await names(dir)).some((n) => n.includes(".tmp-")) && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 2));
          }
          await new Promise((r) => setTimeout(r, round === 0 ? 0 : rng.int(0, 300)));
          child.kill("SIGKILL");
          await child.status;
          for (const n of await names(dir)) {
            if (!n.includes(".tmp-")) continue;
            midWrite++;
            await Deno.remove(join(dir, n)); // so that the next round sees only its own
          }
          const s = await loadLatestCheckpoint(dir);
          assert.ok(s, "a checkpoint survives");
          assert.ok(s.step >= step - 1, `latest step ${s.step} went backwards`);
          assertFixture(BIG, s);
          step = s.step + 1;
        }
        assert.ok(midWrite >= 1, "no kill landed while a temporary file was open");
      },
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
