/**
 * The Hub client against a real HTTP server on loopback that speaks the Hub's resolve protocol
 * (HEAD with X-Repo-Commit and ETag; large files redirected to a second "CDN" origin with
 * X-Linked-Etag and X-Linked-Size; Range requests), serving the bundled model.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { gunzipSync } from "fflate";
import { loadModelDir } from "../model_dir.ts";
import { HubError } from "./errors.ts";
import { parseHubRef, resolveModelRef } from "./resolve.ts";

const BUNDLED = new URL("../../../models/bundled/", import.meta.url);
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const REPO = "blockdiff-test/tiny";

interface Behaviour {
  /** Cut the body of the weights after this many bytes, once. */
  cutOnce?: number;
  /** Flip a byte of the weights. */
  corrupt?: boolean;
  /** Send this ETag for config.json. */
  etag?: string;
}

/** A loopback Hub: `hub` answers resolve requests, `cdn` (another origin) holds large blobs. */
function fakeHub(files: Map<string, Uint8Array>) {
  const log: {
    origin: "hub" | "cdn";
    method: string;
    path: string;
    auth: string | null;
    range?: string | null;
  }[] = [];
  const behaviour: Behaviour = {};
  const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
  const gitSha1 = (b: Uint8Array) =>
    createHash("sha1").update(`blob ${b.length}\0`).update(b).digest("hex");
  const large = (name: string) => name.endsWith(".safetensors");
  let cut = 0;
  const body = (bytes: Uint8Array, req: Request, mayCut = false): Response => {
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.get("range") ?? "");
    if (range) start = Number(range[1]);
    if (start >= bytes.length && bytes.length > 0) return new Response(null, { status: 416 });
    let part = bytes.subarray(start);
    if (behaviour.corrupt) {
      part = part.slice();
      part[part.length >> 1] ^= 0xff;
    }
    const headers = { "content-length": String(part.length) };
    if (mayCut && behaviour.cutOnce && cut === 0 && start === 0) {
      cut++;
      const head = part.subarray(0, behaviour.cutOnce);
      // Send part of the body, then fail the stream: the client sees an interrupted transfer.
      const stream = new ReadableStream({
        start(c) {
          c.enqueue(head);
          setTimeout(() => c.error(new Error("connection reset")), 20);
        },
      });
      return new Response(stream, { status: 200, headers });
    }
    return new Response(req.method === "HEAD" ? null : part as Uint8Array<ArrayBuffer>, {
      status: range ? 206 : 200,
      headers,
    });
  };
  const cdn = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    log.push({
      origin: "cdn",
      method: req.method,
      path,
      auth: req.headers.get("authorization"),
      range: req.headers.get("range"),
    });
    const bytes = files.get(path.slice("/blob/".length));
    return bytes ? body(bytes, req, req.method === "GET") : new Response("no", { status: 404 });
  });
  const hub = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    log.push({ origin: "hub", method: req.method, path, auth: req.headers.get("authorization") });
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    if (!m || m[1] !== REPO) {
      return new Response("Repository not found", {
        status: 404,
        headers: { "x-error-code": "RepoNotFound" },
      });
    }
    const name = decodeURIComponent(m[3]);
    const bytes = files.get(name);
    if (!bytes) {
      return new Response("Entry not found", {
        status: 404,
        headers: { "x-error-code": "EntryNotFound", "x-repo-commit": COMMIT },
      });
    }
    if (large(name)) {
      return new Response(null, {
        status: 302,
        headers: {
          location: `http://127.0.0.1:${cdn.addr.port}/blob/${name}`,
          "x-repo-commit": COMMIT,
          "x-linked-etag": `"${sha256(bytes)}"`,
          "x-linked-size": String(bytes.length),
        },
      });
    }
    const etag = name === "config.json" && behaviour.etag ? behaviour.etag : gitSha1(bytes);
    const res = body(bytes, req);
    res.headers.set("x-repo-commit", COMMIT);
    res.headers.set("etag", `"${etag}"`);
    return res;
  });
  return {
    endpoint: `http://127.0.0.1:${hub.addr.port}`,
    log,
    behaviour,
    async close() {
      await hub.shutdown();
      await cdn.shutdown();
    },
  };
}

async function bundledFiles(): Promise<Map<string, Uint8Array>> {
  return new Map([
    ["config.json", await Deno.readFile(new URL("config.json", BUNDLED))],
    ["blockdiff.json", await Deno.readFile(new URL("blockdiff.json", BUNDLED))],
    ["tokenizer.json", await Deno.readFile(new URL("tokenizer.json", BUNDLED))],
    [
      "model.safetensors",
      gunzipSync(await Deno.readFile(new URL("model.safetensors.gz", BUNDLED))),
    ],
  ]);
}

Deno.test("hub: models from a Hub endpoint into the huggingface_hub cache", async (t) => {
  const files = await bundledFiles();
  const hub = fakeHub(files);
  const cacheDir = await Deno.makeTempDir();
  const opts = {
    endpoint: hub.endpoint,
    cacheDir,
    offline: false,
    env: {},
    progress: false as const,
  };
  try {
    await t.step("ids: org/name[@revision]; anything else is a local path", () => {
      assert.deepEqual(parseHubRef("org/name"), { repo: "org/name", revision: "main" });
      assert.deepEqual(parseHubRef("org/name@v1.0"), { repo: "org/name", revision: "v1.0" });
      for (const bad of ["name", "/abs/path", "org/../x", "org/name@../../x", "a/b/c"]) {
        assert.equal(parseHubRef(bad), null, bad);
      }
    });

    await t.step("first use downloads, with the cache layout Python shares", async () => {
      const dir = await resolveModelRef(REPO, { ...opts, token: "secret" });
      const folder = join(cacheDir, "models--blockdiff-test--tiny");
      assert.equal(dir, join(folder, "snapshots", COMMIT));
      assert.equal((await Deno.readTextFile(join(folder, "refs", "main"))).trim(), COMMIT);
      const blobs = [];
      for await (const e of Deno.readDir(join(folder, "blobs"))) blobs.push(e.name);
      assert.equal(blobs.length, files.size);
      assert.ok(blobs.every((b) => !b.endsWith(".incomplete")));
      const model = await loadModelDir(dir);
      const bundled = JSON.parse(new TextDecoder().decode(files.get("blockdiff.json")));
      assert.equal(model.meta.tokenizer, bundled.tokenizer);
      assert.equal(
        model.config.vocab,
        JSON.parse(new TextDecoder().decode(files.get("config.json"))).vocab_size,
      );
      // The token goes to the Hub's origin only, never to the CDN the weights come from.
      assert.ok(hub.log.some((r) => r.origin === "cdn" && r.method === "GET"));
      assert.ok(hub.log.filter((r) => r.origin === "cdn").every((r) => r.auth === null));
      assert.ok(hub.log.filter((r) => r.origin === "hub").every((r) => r.auth === "Bearer secret"));
    });

    await t.step("a second use fetches no bytes; offline, the cache alone answers", async () => {
      hub.log.length = 0;
      const dir = await resolveModelRef(REPO, opts);
      assert.ok(hub.log.every((r) => r.method === "HEAD"), JSON.stringify(hub.log));
      hub.log.length = 0;
      assert.equal(await resolveModelRef(REPO, { ...opts, offline: true }), dir);
      assert.equal(hub.log.length, 0);
    });

    await t.step("an interrupted download resumes with Range", async () => {
      const fresh = await Deno.makeTempDir();
      hub.behaviour.cutOnce = 100_000;
      try {
        await assert.rejects(
          resolveModelRef(REPO, { ...opts, cacheDir: fresh }),
          (e: unknown) =>
            e instanceof HubError && /run the command again to resume/.test(e.message),
        );
        hub.log.length = 0;
        const dir = await resolveModelRef(REPO, { ...opts, cacheDir: fresh });
        const get = hub.log.find((r) => r.origin === "cdn" && r.method === "GET");
        assert.match(get?.range ?? "", /^bytes=[1-9]\d*-$/, "the second GET resumes");
        assert.deepEqual(
          await Deno.readFile(join(dir, "model.safetensors")),
          files.get("model.safetensors"),
        );
      } finally {
        hub.behaviour.cutOnce = undefined;
        await Deno.remove(fresh, { recursive: true });
      }
    });

    await t.step("bytes that do not match the ETag are refused and dropped", async () => {
      const fresh = await Deno.makeTempDir();
      hub.behaviour.corrupt = true;
      try {
        await assert.rejects(
          resolveModelRef(REPO, { ...opts, cacheDir: fresh }),
          (e: unknown) => e instanceof HubError && /do not match the ETag/.test(e.message),
        );
        const blobs = join(fresh, "models--blockdiff-test--tiny", "blobs");
        for await (const e of Deno.readDir(blobs)) assert.doesNotMatch(e.name, /\.incomplete$/);
      } finally {
        hub.behaviour.corrupt = false;
        await Deno.remove(fresh, { recursive: true });
      }
    });

    await t.step("a hostile ETag cannot name a path outside the cache", async () => {
      const fresh = await Deno.makeTempDir();
      hub.behaviour.etag = "../../../escaped";
      try {
        await assert.rejects(
          resolveModelRef(REPO, { ...opts, cacheDir: fresh }),
          (e: unknown) => e instanceof HubError && /malformed commit or ETag/.test(e.message),
        );
        await assert.rejects(Deno.stat(join(fresh, "..", "escaped")));
      } finally {
        hub.behaviour.etag = undefined;
        await Deno.remove(fresh, { recursive: true });
      }
    });

    await t.step("one line naming the problem: unknown repo, offline miss", async () => {
      await assert.rejects(
        resolveModelRef("blockdiff-test/nope", opts),
        (e: unknown) => e instanceof HubError && /no such model on the Hub/.test(e.message),
      );
      const empty = await Deno.makeTempDir();
      await assert.rejects(
        resolveModelRef(REPO, { ...opts, cacheDir: empty, offline: true }),
        (e: unknown) => e instanceof HubError && /HF_HUB_OFFLINE=1/.test(e.message),
      );
      await Deno.remove(empty, { recursive: true });
      await assert.rejects(
        resolveModelRef(REPO, { ...opts, endpoint: "http://127.0.0.1:9", cacheDir: empty }),
        (e: unknown) => e instanceof HubError && /cannot reach/.test(e.message),
      );
    });
    await t.step("bd3 sample --model org/name: download progress, then a sample", async () => {
      const fresh = await Deno.makeTempDir();
      try {
        const main = new URL("../../../cli/main.ts", import.meta.url).pathname;
        const run = (args: string[], env: Record<string, string>) =>
          new Deno.Command(Deno.execPath(), {
            args: ["run", "-A", main, ...args],
            env: { NO_COLOR: "1", BLOCKDIFF_TUNE: "0", HF_HUB_CACHE: fresh, ...env },
          }).output();
        const args = ["sample", "--model", REPO, "--length", "24", "--json"];
        const r = await run(args, { HF_ENDPOINT: hub.endpoint });
        const err = new TextDecoder().decode(r.stderr);
        assert.equal(r.code, 0, err);
        assert.match(err, /model\.safetensors .*B\/.*B/);
        assert.equal(JSON.parse(new TextDecoder().decode(r.stdout)).samples.length, 1);
        const miss = await run(["sample", "--model", "blockdiff-test/nope"], {
          HF_ENDPOINT: hub.endpoint,
        });
        const lines = new TextDecoder().decode(miss.stderr).split("\n")
          .filter((l) => l && !l.startsWith("Warning: "));
        assert.equal(miss.code, 6);
        assert.deepEqual(lines.length, 1, lines.join("\n"));
        assert.match(lines[0], /^error: .*no such model on the Hub/);
      } finally {
        await Deno.remove(fresh, { recursive: true });
      }
    });
  } finally {
    await hub.close();
    await Deno.remove(cacheDir, { recursive: true });
  }
});
