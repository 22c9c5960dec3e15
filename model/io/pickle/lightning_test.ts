import assert from "node:assert/strict";
import { join } from "node:path";
import { zipSync } from "fflate";
import { CheckpointError, ConfigError } from "../errors.ts";
import { modelConfig } from "../model_config.ts";
import { expectedParameters, inverseFrequencyBuffer } from "../hf_params.ts";
import { f32Tensor, type TensorMap } from "../host_tensor.ts";
import { encodeLightningCheckpoint, readLightningCheckpoint } from "./lightning.ts";
import { loadLightningCheckpoint, saveLightningCheckpoint } from "./lightning_file.ts";
import { loadModelDir } from "../model_dir.ts";
import { PyObject, PyTuple, unpickle } from "./unpickle.ts";
import { omegaconfToPlain } from "./omegaconf.ts";
import { encodeTorchSave, readTorchArchive } from "./torch_archive.ts";
import { writeZip } from "./zip.ts";

/** The reference interpreter: Debian's python3-torch (and python3-omegaconf). */
const PY = "/usr/bin/python3";
const PEER = new URL("./testdata/lightning_ckpt.py", import.meta.url).pathname;
/** The CLI, run as a subprocess (the model package does not import it). */
const CLI = new URL("../../../cli/main.ts", import.meta.url).pathname;

const hasTorch = await new Deno.Command(PY, {
  args: ["-c", "import torch, omegaconf"],
  stdout: "null",
  stderr: "null",
}).output().then((o) => o.success, () => false);

async function peer(...args: string[]): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(PY, { args: [PEER, ...args] }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `lightning_ckpt.py ${args[0]} failed: ${err}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** A torch-style zip around hand-built pickle bytes. */
function zipOf(pkl: Uint8Array, extra: [string, Uint8Array][] = []): Uint8Array {
  return concat(writeZip([["archive/data.pkl", pkl], ...extra]));
}

/** Bytes from latin-1 strings and byte lists (pickle text is byte-per-character). */
const bytes = (...parts: (string | number[])[]) =>
  concat(
    parts.map((p) =>
      typeof p === "string" ? Uint8Array.from(p, (c) => c.charCodeAt(0)) : Uint8Array.from(p)
    ),
  );

/** Asserts `f` throws one single-line CheckpointError matching `re`. */
function assertRefused(f: () => unknown, re: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `expected CheckpointError, got ${e}`);
    assert.ok(!e.message.includes("\n"), `message is one line: ${e.message}`);
    assert.match(e.message, re);
    return true;
  });
}

Deno.test({
  name: "a reference-shaped Lightning .ckpt converts to its EMA weights (real torch.save)",
  ignore: !hasTorch,
  async fn(t) {
    const dir = await Deno.makeTempDir();
    try {
      const path = join(dir, "last.ckpt");
      const expected = await peer("gen", path) as {
        parameters: string[];
        ema: Record<string, number[]>;
        raw: Record<string, number[]>;
      };
      const ck = await loadLightningCheckpoint(path);
      await t.step("the config comes from the pickled omegaconf DictConfig", () => {
        const c = ck.config;
        assert.deepEqual(
          [c.algo, c.vocab, c.hidden, c.heads, c.blocks, c.condDim, c.length, c.blockSize],
          ["bd3lm", 12, 8, 2, 2, 4, 8, 4],
        );
        // model.adaln is false, but a non-causal DiT always has adaLN.
        assert.equal(c.adaln, true);
        assert.equal(c.varMin, true);
        assert.equal(c.attnBackend, "sdpa");
        // The learned interval stored at the top level wins over training.sampling_eps_*.
        assert.deepEqual([c.samplingEpsMin, c.samplingEpsMax], [0.25, 0.75]);
        assert.equal(ck.step, 42);
        assert.equal(ck.emaDecay, 0.9999);
      });
      await t.step("the script's own tokenizer class stays an inert placeholder", () => {
        const a = readTorchArchive(Deno.readFileSync(path), path);
        const tok = ((a.root as Map<string, unknown>).get("hyper_parameters") as Map<
          string,
          unknown
        >).get("tokenizer");
        assert.ok(tok instanceof PyObject);
        assert.equal(tok.className, "__main__.SecretTokenizer");
      });
      await t.step("EMA shadow_params are named in parameters() order", () => {
        assert.deepEqual(
          expectedParameters(ck.config).map((p) => p.key),
          expected.parameters,
        );
        for (const [k, v] of Object.entries(expected.ema)) {
          assert.deepEqual(Array.from(ck.ema!.get(k)!.data as Float32Array), v, k);
        }
        // Buffers are not averaged: they come from state_dict.
        assert.deepEqual(
          Array.from(ck.ema!.get("backbone.rotary_emb.inv_freq")!.data as Float32Array),
          expected.raw["backbone.rotary_emb.inv_freq"],
        );
      });
      await t.step("the raw state_dict is read as well", () => {
        for (const [k, v] of Object.entries(expected.raw)) {
          // The eps buffers follow the top-level learned values, as on_load_checkpoint does.
          if (k.startsWith("sampling_eps")) continue;
          assert.deepEqual(Array.from(ck.weights.get(k)!.data as Float32Array), v, k);
        }
        assert.deepEqual(ck.weights.get("sampling_eps_min")!.data, new Float32Array([0.25]));
      });
      await t.step(
        "a written .ckpt reads back exactly with torch.load(weights_only=True)",
        async () => {
          const out = join(dir, "ours.ckpt");
          await saveLightningCheckpoint(out, {
            config: ck.config,
            weights: ck.weights,
            ema: ck.ema,
            emaDecay: 0.999,
            step: 42,
          });
          const r = await peer("check", out) as Record<string, unknown>;
          // torch >= 2 reads it with weights_only=True; torch 1.13's weights-only unpickler
          // lacks BINFLOAT (no float loads at all), so the peer applies the same allowlist itself.
          assert.ok(["weights_only", "restricted"].includes(r.loader as string), String(r.loader));
          assert.equal(r.state_dict_type, "OrderedDict");
          assert.equal(r.loaded, "<All keys matched successfully>");
          assert.equal(r.shadow_shapes_match, true);
          const sd = r.state_dict as Record<string, number[]>;
          for (const [k, v] of ck.weights) {
            assert.deepEqual(sd[k], Array.from(v.data as Float32Array), k);
          }
          const shadow = r.shadow as number[][];
          expectedParameters(ck.config).forEach((p, i) => {
            assert.deepEqual(
              shadow[i],
              Array.from(ck.ema!.get(p.key)!.data as Float32Array),
              p.key,
            );
          });
          assert.equal(r.decay, 0.999);
          assert.equal(r.num_updates, 42);
          assert.equal(r.global_step, 42);
          assert.deepEqual(r.fast_forward, [0, 0]);
          assert.equal(r.optimizer_step, 42);
          assert.deepEqual(r.sampling_eps, [0.25, 0.75]);
          for (const k of ["ema", "global_step", "loops", "sampling_eps_min", "state_dict"]) {
            assert.ok((r.keys as string[]).includes(k), k);
          }
        },
      );
      await t.step("bd3 convert: .ckpt → model directory (EMA) → .ckpt", async () => {
        // Vocabulary 260 so the byte tokenizer is inferred.
        const big = join(dir, "bytes.ckpt");
        const exp = await peer("gen", big, "260") as { ema: Record<string, number[]> };
        const model = join(dir, "model");
        const back = join(dir, "back.ckpt");
        for (const [from, to] of [[big, model], [model, back]]) {
          const out = await new Deno.Command(Deno.execPath(), {
            args: ["run", "-A", CLI, "convert", "--from", from, "--to", to],
            stdout: "piped",
            stderr: "piped",
          }).output();
          const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
          assert.ok(out.success, text);
          assert.match(text, new RegExp(`wrote ${to.replaceAll(".", "\\.")} `));
        }
        const m = await loadModelDir(model);
        assert.equal(m.meta.tokenizer, "bytes");
        for (const [k, v] of Object.entries(exp.ema)) {
          assert.deepEqual(Array.from(m.tensors.get(k)!.data as Float32Array), v, k);
        }
        const r = await peer("check", back, "260") as { loaded: string; shadow: number[][] };
        assert.equal(r.loaded, "<All keys matched successfully>");
        assert.deepEqual(r.shadow[0], exp.ema["backbone.vocab_embed.embedding"]);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("written checkpoints read back without torch", async (t) => {
  const config = modelConfig({
    size: "micro",
    vocab: 16,
    length: 8,
    blockSize: 4,
    samplingEpsMin: 0.2,
    samplingEpsMax: 0.9,
  });
  const weights: TensorMap = new Map();
  const ema: TensorMap = new Map();
  for (const p of expectedParameters(config)) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    weights.set(p.key, f32Tensor(p.shape, Array.from({ length: n }, (_, i) => i / 7)));
    ema.set(p.key, f32Tensor(p.shape, Array.from({ length: n }, (_, i) => -i / 3)));
  }
  const bytes = concat(encodeLightningCheckpoint({ config, weights, ema, step: 5 }));
  await t.step("without a Hydra config, the missing fields are asked for", () => {
    // Our own files carry a plain-dict config; drop it to get a bare checkpoint.
    const bare = concat(
      encodeTorchSave({
        state_dict: new Map([...weights, [
          "backbone.rotary_emb.inv_freq",
          f32Tensor([8], inverseFrequencyBuffer(config)),
        ]]),
        global_step: 1,
      }),
    );
    assert.throws(
      () => readLightningCheckpoint(bare, "x.ckpt"),
      (e: unknown) =>
        e instanceof ConfigError && /has no hyper_parameters\.config; pass --algo/.test(e.message),
    );
    assert.throws(
      () => readLightningCheckpoint(bare, "x.ckpt", { algo: "mdlm" }),
      (e: unknown) => e instanceof ConfigError && /model\.length .*pass --length/.test(e.message),
    );
    const ck = readLightningCheckpoint(bare, "x.ckpt", { algo: "bd3lm", length: 8, blockSize: 4 });
    assert.equal(ck.config.blockSize, 4);
    assert.equal(ck.ema, null);
  });
  await t.step("weights, EMA, eps and the config round-trip", () => {
    const ck = readLightningCheckpoint(bytes, "x.ckpt");
    assert.deepEqual(ck.config, {
      ...config,
      samplingEpsMin: Math.fround(0.2),
      samplingEpsMax: Math.fround(0.9),
    });
    assert.equal(ck.step, 5);
    assert.deepEqual([ck.config.samplingEpsMin, ck.config.samplingEpsMax], [
      Math.fround(0.2),
      Math.fround(0.9),
    ]);
    for (const [k, v] of weights) assert.deepEqual(ck.weights.get(k)!.data, v.data, k);
    for (const [k, v] of ema) assert.deepEqual(ck.ema!.get(k)!.data, v.data, k);
  });
  await t.step("a missing parameter is refused before anything is written", () => {
    const partial = new Map(weights);
    partial.delete("backbone.blocks.1.norm2.weight");
    assertRefused(
      () => encodeLightningCheckpoint({ config, weights: partial }),
      /missing tensor "backbone\.blocks\.1\.norm2\.weight"/,
    );
  });
});

Deno.test("hostile pickles run nothing and fail with one line", async (t) => {
  const marker = join(await Deno.makeTempDir(), "pwned");
  // GLOBAL os.system, ("touch <marker>",), REDUCE, STOP: what a malicious .ckpt carries.
  const osSystem = bytes(
    [0x80, 2],
    `cposix\nsystem\nX`,
    [marker.length + 6, 0, 0, 0],
    `touch ${marker}`,
    [0x85, 0x52, 0x2e],
  );
  await t.step("GLOBAL os.system / posix.system + REDUCE", () => {
    assertRefused(() => unpickle(osSystem), /names posix\.system.*nothing was run/);
    assertRefused(
      () => readTorchArchive(zipOf(osSystem), "evil.ckpt"),
      /^evil\.ckpt: archive\/data\.pkl: refuses to load: the pickle names posix\.system/,
    );
    assert.equal(Deno.statSync(marker.replace(/pwned$/, "")).isDirectory, true);
    assert.throws(() => Deno.statSync(marker), Deno.errors.NotFound);
  });
  await t.step("builtins.eval, __builtin__.exec, STACK_GLOBAL os.system", () => {
    assertRefused(() => unpickle(bytes([0x80, 2], `cbuiltins\neval\n)R.`)), /builtins\.eval/);
    assertRefused(() => unpickle(bytes([0x80, 2], `c__builtin__\nexec\n)R.`)), /__builtin__\.exec/);
    assertRefused(
      () =>
        unpickle(bytes([0x80, 4, 0x8c, 2], "os", [0x8c, 6], "system", [0x93, 0x29, 0x52, 0x2e])),
      /os\.system/,
    );
  });
  await t.step("any other global is an inert placeholder, never called", () => {
    const v = unpickle(bytes([0x80, 2], `cmymod\nBoom\nK\x07\x85R}X\x01\x00\x00\x00aK\x01sb.`));
    assert.ok(v instanceof PyObject);
    assert.equal(v.className, "mymod.Boom");
    assert.deepEqual(v.args, [7]);
    assert.deepEqual(v.state, new Map([["a", 1]]));
  });
  await t.step("huge lengths, truncation, deep nesting, bad opcodes", () => {
    assertRefused(
      () => unpickle(bytes([0x80, 2, 0x58, 0xff, 0xff, 0xff, 0x7f]), { name: "p" }),
      /^p: truncated/,
    );
    assertRefused(() => unpickle(bytes([0x80, 2, 0x8d], [0, 0, 0, 0, 0, 0, 0, 0x7f])), /too large/);
    assertRefused(() => unpickle(bytes([0x80, 2, 0x8b, 0xff, 0xff, 0, 0])), /LONG4/);
    assertRefused(() => unpickle(new Uint8Array(20_000).fill(0x28)), /MARKs nest deeper/);
    assertRefused(() => unpickle(bytes([0x80, 2, 0x5d])), /truncated/);
    assertRefused(() => unpickle(bytes([0x80, 2, 0xff])), /unsupported pickle opcode 0xff/);
    assertRefused(() => unpickle(bytes([0x80, 2, 0x68, 9, 0x2e])), /memo entry 9/);
    assertRefused(() => unpickle(bytes([0x80, 2, 0x52])), /stack underflow/);
    // An opcode may not consume the MARK below it.
    assertRefused(() => unpickle(bytes([0x80, 2, 0x28, 0x30, 0x2e])), /stack underflow/);
    assertRefused(() => unpickle(bytes([0x80, 2, 0x28, 0x71, 0, 0x2e])), /stack underflow/);
    assertRefused(
      () => unpickle(new Uint8Array(100), { maxBytes: 10 }),
      /more than the 10 allowed/,
    );
  });
  const tensorPickle = (key: string, numel: number, size: number) =>
    bytes(
      [0x80, 2],
      "ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX",
      [key.length, 0, 0, 0],
      key,
      "X\x03\x00\x00\x00cpuK",
      [numel],
      "tQK\x00K",
      [size],
      "\x85K\x01\x85\x89)tR.",
    );
  await t.step("storage records missing, views past their storage, truncated zips", () => {
    const ok = zipOf(tensorPickle("0", 4, 4), [["archive/data/0", new Uint8Array(16)]]);
    const a = readTorchArchive(ok, "ok.ckpt");
    assert.equal(a.tensor(a.root as never, "w").data.length, 4);
    const missing = readTorchArchive(zipOf(tensorPickle("0", 4, 4)), "m.ckpt");
    assertRefused(
      () => missing.tensor(missing.root as never, "w"),
      /storage 0, which the zip does not hold/,
    );
    const past = readTorchArchive(
      zipOf(tensorPickle("0", 4, 9), [["archive/data/0", new Uint8Array(16)]]),
      "v.ckpt",
    );
    assertRefused(
      () => past.tensor(past.root as never, "w"),
      /reaches element 8 of a 4-element storage/,
    );
    const short = readTorchArchive(
      zipOf(tensorPickle("0", 4, 4), [["archive/data/0", new Uint8Array(8)]]),
      "s.ckpt",
    );
    assertRefused(() => short.tensor(short.root as never, "w"), /has 8 bytes, fewer than/);
    assertRefused(
      () => readTorchArchive(zipOf(tensorPickle("../../etc", 4, 4)), "k.ckpt"),
      /not a plain record name/,
    );
    for (const cut of [10, ok.length - 30, ok.length - 1]) {
      assertRefused(() => readTorchArchive(ok.subarray(0, cut), "t.ckpt"), /^t\.ckpt: /);
    }
    assertRefused(() => readTorchArchive(bytes("not a zip at all"), "n.ckpt"), /not a zip archive/);
    const flipped = zipOf(tensorPickle("0", 4, 4), [[
      "archive/data/0",
      new Uint8Array(16).fill(0xab),
    ]]);
    flipped[flipped.indexOf(0xab) + 3] ^= 1;
    assertRefused(() => {
      const f = readTorchArchive(flipped, "c.ckpt");
      f.tensor(f.root as never, "w");
    }, /^c\.ckpt: "archive\/data\/0": CRC-32 mismatch/);
    // Deflated records (not what torch writes, but legal zip) read the same.
    const deflated = zipSync({
      "archive/data.pkl": [tensorPickle("0", 4, 4), { level: 6 }],
      "archive/data/0": [new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer), { level: 6 }],
    });
    const d = readTorchArchive(deflated, "d.ckpt");
    assert.deepEqual(d.tensor(d.root as never, "w").data, new Float32Array([1, 2, 3, 4]));
  });
  await t.step("a Lightning read of a non-checkpoint pickle says what is wrong", () => {
    assertRefused(
      () => readLightningCheckpoint(zipOf(bytes([0x80, 2, 0x5d, 0x2e])), "l.ckpt"),
      /^l\.ckpt: the checkpoint is not a dict$/,
    );
  });
});

const hasPython = await new Deno.Command(PY, { args: ["-c", "1"], stdout: "null", stderr: "null" })
  .output().then((o) => o.success, () => false);

Deno.test({
  name: "pickles of every protocol Python writes read back (plain values, no torch)",
  ignore: !hasPython,
  async fn(t) {
    const script = `
import pickle, sys, collections
v = {"ints": [0, 1, -1, 255, 256, 65535, 65536, -2**31, 2**31, 2**53 - 1, 2**64, -2**70],
     "floats": [1.5, -0.0, 1e300], "flags": [True, False, None],
     "text": ["", "ascii", "ü", "日本\\\\x", "a\\nb"], "bytes": b"\\x00\\xffxy",
     "tuples": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)],
     "nested": {"k": [[], {}], 3: "int key"},
     "od": collections.OrderedDict([("b", 1), ("a", 2)])}
v["shared"] = [v["tuples"], v["tuples"]]
for p in range(0, 6):
    sys.stdout.buffer.write(pickle.dumps(v, protocol=p).hex().encode() + b"\\n")
`;
    const out = await new Deno.Command(PY, { args: ["-c", script] }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
    assert.equal(lines.length, 6);
    const plain = (v: unknown): unknown =>
      v instanceof Map
        ? Object.fromEntries([...v].map(([k, x]) => [String(k), plain(x)]))
        : Array.isArray(v)
        ? v.map(plain)
        : v instanceof PyTuple
        ? { tuple: v.items.map(plain) }
        : v instanceof Uint8Array
        ? { bytes: [...v] }
        : v;
    const tuples = [[], [1], [1, 2], [1, 2, 3], [1, 2, 3, 4]].map((x) => ({ tuple: x }));
    const expected = {
      ints: [
        0,
        1,
        -1,
        255,
        256,
        65535,
        65536,
        -(2 ** 31),
        2 ** 31,
        2 ** 53 - 1,
        2n ** 64n,
        -(2n ** 70n),
      ],
      floats: [1.5, -0, 1e300],
      flags: [true, false, null],
      text: ["", "ascii", "ü", "日本\\x", "a\nb"],
      bytes: { bytes: [0, 255, 120, 121] },
      tuples,
      nested: { k: [[], {}], 3: "int key" },
      od: { b: 1, a: 2 },
      shared: [tuples, tuples],
    };
    for (const [p, hex] of lines.entries()) {
      await t.step(`protocol ${p}`, () => {
        const b = Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
        const v = unpickle(b, { name: `protocol ${p}` });
        assert.deepEqual(plain(v), expected);
      });
    }
  },
});

Deno.test("config trees nested past the bound are refused", () => {
  // 200 lists, each appended into the one before: a 200-deep value built without MARKs.
  const deep = bytes([0x80, 2], "]".repeat(200), "a".repeat(199), ".");
  const v = unpickle(deep);
  assertRefused(() => omegaconfToPlain(v, "deep.ckpt"), /^deep\.ckpt: nests deeper than 64/);
});
