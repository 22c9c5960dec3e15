import assert from "node:assert/strict";
import { join } from "node:path";
import { Rng } from "@blockdiff/core/testing";
import { SafetensorsError } from "./errors.ts";
import { f32Tensor, type HostTensor } from "./host_tensor.ts";
import { decodeSafetensors, readSafetensors, SafetensorsFile } from "./safetensors_read.ts";
import { encodeSafetensors } from "./safetensors_write.ts";
import { writeSafetensors } from "./safetensors_save.ts";

function randomF32(rng: Rng, shape: number[]): HostTensor {
  const t = f32Tensor(shape);
  for (let i = 0; i < t.data.length; i++) (t.data as Float32Array)[i] = rng.next() * 8 - 4;
  return t;
}

/** Builds a raw file: 8-byte length (or `length`), header text, data bytes. */
function rawFile(
  header: string | object | Uint8Array,
  data = new Uint8Array(0),
  length?: bigint,
): Uint8Array {
  const json = header instanceof Uint8Array
    ? header
    : new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

async function expectRefused(
  dir: string,
  bytes: Uint8Array,
  pattern: RegExp,
): Promise<void> {
  const path = join(dir, "model.safetensors");
  await Deno.writeFile(path, bytes);
  await assert.rejects(() => readSafetensors(path), (e: unknown) => {
    assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${e}`);
    assert.match(e.message, /model\.safetensors: /);
    assert.match(e.message, pattern);
    return true;
  });
  assert.throws(() => decodeSafetensors(bytes, "mem"), SafetensorsError);
}

Deno.test("safetensors", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "blockdiff-st-" });
  const rng = new Rng(7);
  try {
    await t.step("round trip of every dtype through a file", async () => {
      const w = randomF32(rng, [3, 5]);
      const tensors = new Map<string, HostTensor>([
        ["b.weight", w],
        ["a.scalar", f32Tensor([], [0.25])],
        ["empty", f32Tensor([0, 4])],
        ["ids", { dtype: "i32", shape: [4], data: new Int32Array([1, -2, 3, 2147483647]) }],
        ["big", { dtype: "i64", shape: [2], data: new BigInt64Array([-1n, 1n << 60n]) }],
        ["bytes", { dtype: "u8", shape: [3], data: new Uint8Array([0, 7, 255]) }],
        ["mask", { dtype: "bool", shape: [2, 2], data: new Uint8Array([1, 0, 0, 1]) }],
      ]);
      for (const floatDtype of ["F32", "F16", "BF16"] as const) {
        const path = join(dir, `rt-${floatDtype}.safetensors`);
        await writeSafetensors(path, tensors, { floatDtype, metadata: { note: "hi" } });
        const back = await readSafetensors(path);
        assert.deepEqual(back.metadata, { format: "pt", note: "hi" });
        assert.deepEqual([...back.tensors.keys()].sort(), [...tensors.keys()].sort());
        for (const [k, v] of tensors) {
          const got = back.tensors.get(k)!;
          assert.deepEqual(got.shape, v.shape, k);
          assert.equal(got.dtype, v.dtype, k);
          if (v.dtype !== "f32") {
            assert.deepEqual(got.data, v.data, k);
            continue;
          }
          const tol = floatDtype === "F32" ? 0 : floatDtype === "F16" ? 2 ** -10 : 2 ** -7;
          for (let i = 0; i < v.data.length; i++) {
            const a = v.data[i] as number, b = got.data[i] as number;
            assert.ok(Math.abs(a - b) <= tol * Math.abs(a), `${k}[${i}] ${a} vs ${b}`);
          }
        }
        using f = await SafetensorsFile.open(path);
        const expectedDtype = floatDtype;
        assert.equal(f.info("b.weight")?.dtype, expectedDtype);
        assert.equal(f.header.dataStart % 8, 0, "header padded to 8 bytes");
      }
    });

    await t.step("layout: sorted keys, aligned data, bit-exact f32", () => {
      const tensors = {
        "z": randomF32(rng, [2]),
        "m": { dtype: "u8", shape: [3], data: new Uint8Array(3) } as HostTensor,
        "a": randomF32(rng, [3]),
        "i": { dtype: "i64", shape: [1], data: new BigInt64Array(1) } as HostTensor,
      };
      const bytes = encodeSafetensors(tensors);
      const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      assert.equal(n % 8, 0);
      const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
      assert.deepEqual(Object.keys(header), ["__metadata__", "i", "a", "z", "m"]);
      for (const k of ["i", "a", "z", "m"]) {
        const [b] = header[k].data_offsets;
        const size = { i: 8, a: 4, z: 4, m: 1 }[k]!;
        assert.equal(b % size, 0, `${k} aligned`);
      }
      const back = decodeSafetensors(bytes);
      assert.deepEqual(back.tensors.get("a")!.data, tensors.a.data);
    });

    await t.step("lazy access reads one tensor; missing keys are refused whole", async () => {
      const path = join(dir, "lazy.safetensors");
      await writeSafetensors(path, { x: randomF32(rng, [4]), y: randomF32(rng, [2, 2]) });
      using f = await SafetensorsFile.open(path);
      assert.deepEqual(f.keys().sort(), ["x", "y"]);
      assert.deepEqual((await f.get("y")).shape, [2, 2]);
      await assert.rejects(() => f.load(["x", "nope"]), /lazy\.safetensors: no tensor "nope"/);
      await assert.rejects(
        () => readSafetensors(path, { keys: ["x", "nope"] }),
        SafetensorsError,
      );
      const only = await readSafetensors(path, { keys: ["x"] });
      assert.deepEqual([...only.tensors.keys()], ["x"]);
    });

    await t.step("hostile headers end in clear errors", async () => {
      const d16 = new Uint8Array(16);
      const ok = (o: object) => ({ w: { dtype: "F32", shape: [4], data_offsets: [0, 16] }, ...o });
      await expectRefused(dir, rawFile(ok({}), d16, 1n << 62n), /exceeds the limit/);
      await expectRefused(dir, rawFile(ok({}), d16, 10_000n), /runs past the end/);
      await expectRefused(dir, new Uint8Array(5), /too short/);
      await expectRefused(dir, rawFile("not json at all", d16), /does not start with/);
      await expectRefused(dir, rawFile('{"w": [1, 2', d16), /not valid JSON/);
      await expectRefused(dir, rawFile('{"w":' + "[".repeat(100_000)), /deeper/);
      await expectRefused(
        dir,
        rawFile(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])),
        /not valid UTF-8/,
      );
      await expectRefused(
        dir,
        rawFile({ w: { dtype: "F64", shape: [2], data_offsets: [0, 16] } }, d16),
        /tensor "w": dtype "F64" is not supported/,
      );
      await expectRefused(
        dir,
        rawFile({ w: { dtype: "F32", shape: [-4], data_offsets: [0, 16] } }, d16),
        /tensor "w": shape \[-4\] is not a list of non-negative integers/,
      );
      await expectRefused(
        dir,
        rawFile({ w: { dtype: "F32", shape: [1.5], data_offsets: [0, 16] } }, d16),
        /tensor "w": shape/,
      );
      await expectRefused(
        dir,
        rawFile({ w: { dtype: "F32", shape: [4], data_offsets: [-16, 0] } }, d16),
        /tensor "w": data_offsets \[-16,0\] is not a pair/,
      );
      await expectRefused(
        dir,
        rawFile({ w: { dtype: "F32", shape: [2 ** 30, 2 ** 30], data_offsets: [0, 16] } }, d16),
        /more than 2\^53 elements/,
      );
      await expectRefused(
        dir,
        rawFile({ w: { dtype: "F32", shape: [2 ** 52], data_offsets: [0, 16] } }, d16),
        /exceeds 2\^53 bytes/,
      );
      await expectRefused(
        dir,
        rawFile({ w: { dtype: "F32", shape: [1e300], data_offsets: [0, 16] } }, d16),
        /shape/,
      );
      await expectRefused(
        dir,
        rawFile({
          "blocks.0.attn_qkv.weight": { dtype: "F32", shape: [768, 2304], data_offsets: [0, 99] },
        }),
        /tensor "blocks\.0\.attn_qkv\.weight": data_offsets \[0, 99\] span 99 bytes but shape \[768, 2304\] f32 needs 7077888/,
      );
      await expectRefused(
        dir,
        rawFile({ w: { dtype: "F32", shape: [4], data_offsets: [16, 0] } }, d16),
        /end before they begin/,
      );
      await expectRefused(
        dir,
        rawFile({ w: { dtype: "F32", shape: [4], data_offsets: [16, 32] } }, d16),
        /tensor "w": data_offsets \[16, 32\] run past the 16-byte data section/,
      );
      await expectRefused(
        dir,
        rawFile({
          a: { dtype: "F32", shape: [4], data_offsets: [0, 16] },
          b: { dtype: "F32", shape: [2], data_offsets: [8, 16] },
        }, d16),
        /tensor "b" data_offsets \[8, 16\] overlap tensor "a"/,
      );
      await expectRefused(
        dir,
        rawFile({ w: { dtype: "F32", shape: [2], data_offsets: [8, 16] } }, d16),
        /gap of 8 bytes before tensor "w"/,
      );
      await expectRefused(
        dir,
        rawFile({ w: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, d16),
        /8 trailing bytes/,
      );
      await expectRefused(
        dir,
        rawFile(ok({ __metadata__: { a: 1 } }), d16),
        /__metadata__ entry "a"/,
      );
      await expectRefused(dir, rawFile({ w: "F32" }, d16), /tensor "w": entry is not an object/);
      await expectRefused(dir, rawFile("[1]", d16), /does not start with/);
      await expectRefused(
        dir,
        rawFile({ m: { dtype: "BOOL", shape: [1], data_offsets: [0, 1] } }, new Uint8Array([2])),
        /tensor "m": BOOL element 0 is 2/,
      );
    });

    await t.step("a truncated file is refused before any tensor is read", async () => {
      const path = join(dir, "trunc.safetensors");
      await writeSafetensors(path, { a: randomF32(rng, [64]), b: randomF32(rng, [64]) });
      const full = await Deno.readFile(path);
      for (const cut of [3, 8, 20, full.length - 300, full.length - 1]) {
        await expectRefused(dir, full.subarray(0, cut), /truncated|too short|runs past/);
      }
    });

    await t.step("writer refuses malformed tensors", async () => {
      const path = join(dir, "bad.safetensors");
      await assert.rejects(
        () =>
          writeSafetensors(path, { w: { dtype: "f32", shape: [3], data: new Float32Array(2) } }),
        /bad\.safetensors: tensor "w": shape \[3\] needs 3 elements, data has 2/,
      );
      await assert.rejects(
        () =>
          writeSafetensors(path, { w: { dtype: "i32", shape: [2], data: new Float32Array(2) } }),
        /dtype i32 needs a Int32Array/,
      );
      await assert.rejects(() => Deno.stat(path), Deno.errors.NotFound);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
