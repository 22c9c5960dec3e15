/**
 * `bd3 train` killed with SIGKILL at random moments (some during a checkpoint write) and resumed
 * each time loses nothing: the latest checkpoint always loads, the run continues right after it,
 * and every step's loss equals that of an uninterrupted run. Also: a write that fails (disk full)
 * and an unusable --out both end in one clear line. BLOCKDIFF_SEED replays the kill timings.
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { IoError } from "@blockdiff/model";
import { loadLatestCheckpoint, saveTrainingCheckpoint, type Sink } from "@blockdiff/model/deno";
import { fixtureState, TINY } from "@blockdiff/model/testing";
import { freshSeed } from "@blockdiff/core/testing";
import { runKillScenario, TRAIN_ARGS } from "./kill.ts";

Deno.test("kill: SIGKILLed training resumes with nothing lost", async () => {
  const seed = freshSeed();
  console.log(`kill: seed ${seed} (replay with BLOCKDIFF_SEED=${seed})`);
  const report = await runKillScenario({ seed, kills: 4 });
  for (const k of report.kills) console.log(`  ${JSON.stringify(k)}`);
  console.log(
    `  survived ${report.survived}/${report.kills.length}, max |Δloss| ${report.maxLossDiff}, ` +
      `${report.seconds} s`,
  );
  assert.deepEqual(report.problems, [], `seed ${seed}`);
  assert.equal(report.survived, report.kills.length);
  assert.deepEqual(report.mismatchedSteps, [], `losses differ from the uninterrupted run`);
});

/** A sink that accepts `room` bytes and then fails as a full disk does. */
function fullDisk(room: number): (path: string) => Promise<Sink> {
  return async (path) => {
    const file = await Deno.open(path, { write: true, createNew: true });
    let left = room;
    return {
      write(p) {
        if (left <= 0) {
          const e = new Error("No space left on device (os error 28)") as Error & { code: string };
          e.code = "ENOSPC";
          return Promise.reject(e);
        }
        const n = Math.min(left, p.length);
        left -= n;
        return file.write(p.subarray(0, n));
      },
      sync: () => file.sync(),
      close: () => file.close(),
    };
  };
}

Deno.test("disk full: the checkpoint write fails cleanly, the previous one stays", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await saveTrainingCheckpoint(dir, fixtureState(TINY, 1));
    for (const room of [0, 100, 5000]) {
      await assert.rejects(
        saveTrainingCheckpoint(dir, fixtureState(TINY, 2), { openTemp: fullDisk(room) }),
        (e: unknown) =>
          e instanceof IoError && /disk full/.test(e.message) && e.message.includes(dir),
      );
      assert.equal((await loadLatestCheckpoint(dir))?.step, 1);
      const names = [];
      for await (const e of Deno.readDir(dir)) names.push(e.name);
      assert.deepEqual(names.sort(), ["ckpt-000000000001.safetensors", "latest"]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bd3 train with an unusable --out: one line, non-zero exit", async () => {
  // A path below a regular file: mkdir fails even for root (chmod would not stop root).
  const file = await Deno.makeTempFile();
  try {
    const out = join(file, "run");
    const main = fileURLToPath(new URL("../../cli/main.ts", import.meta.url));
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, "train", ...TRAIN_ARGS, "--out", out],
      env: { NO_COLOR: "1", BLOCKDIFF_TUNE: "0" },
    }).output();
    const err = new TextDecoder().decode(stderr).trim();
    assert.notEqual(code, 0);
    assert.equal(new TextDecoder().decode(stdout), "");
    const lines = err.split("\n").filter((l) => !l.startsWith("Warning: "));
    assert.equal(lines.length, 1, err);
    assert.match(lines[0], /^error: .*\/run\/checkpoints: cannot create the run directory/);
    assert.doesNotMatch(err, /\n\s+at /);
  } finally {
    await Deno.remove(file);
  }
});
