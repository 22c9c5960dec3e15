import assert from "node:assert/strict";
import OpenAI from "openai";
import { gpuTest } from "@blockdiff/core/testing";
import { createApp } from "./app.ts";
import { makeFixture } from "./test_fixtures.ts";
import { cutAtStop, StopStream } from "./openai/stop.ts";

Deno.test("openai: stop strings, in one piece and streamed", async (t) => {
  await t.step("cut before the earliest stop string", () => {
    assert.deepEqual(cutAtStop("a.b!c", ["!", "."]), { text: "a", stopped: true });
    assert.deepEqual(cutAtStop("abc", ["x"]), { text: "abc", stopped: false });
  });
  await t.step("a stream holds back what could become a stop string", () => {
    const s = new StopStream(["END"]);
    assert.equal(s.push("helloE", false), "hello"); // "E" might start "END"
    assert.equal(s.push("helloEN", false), "");
    assert.equal(s.push("helloENx", false), "ENx"); // it did not
    assert.equal(s.push("helloENxEND", false), "");
    assert.ok(s.stopped);
    assert.equal(s.push("helloENDmore!", true), "");
    assert.equal(s.sent, "helloENx");
  });
  await t.step("a character still being decoded waits; the last push sends the rest", () => {
    const s = new StopStream([]);
    assert.equal(s.push("ab\uFFFD", false), "ab");
    assert.equal(s.push("ab\u20ACc", false), "\u20ACc");
    assert.equal(s.push("ab\u20ACc\uFFFD", true), "\uFFFD");
  });
});

// The official client against a real server on loopback: what it sends and parses is what
// any OpenAI-compatible tool will.
gpuTest("web: OpenAI-compatible API through the official client", async (t, gpu) => {
  const fx = await makeFixture(gpu);
  const app = createApp({ gpu, models: fx.models, appJs: "", maxPerClient: 8, maxWaiting: 8 });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  const base = `http://127.0.0.1:${server.addr.port}/v1`;
  const client = new OpenAI({ baseURL: base, apiKey: "unused", maxRetries: 0 });
  const health = async () =>
    await (await fetch(`http://127.0.0.1:${server.addr.port}/api/health`)).json();
  // The diffusion settings ride along as extra body fields, which the client's types omit.
  // A high temperature keeps the tiny model's text varied.
  const tiny = {
    model: "tiny",
    prompt: "Hi",
    max_tokens: 12,
    seed: 3,
    temperature: 3,
    stop_at_eos: false,
  };
  type Body = OpenAI.CompletionCreateParamsNonStreaming;

  await t.step("models list and one model", async () => {
    const page = await client.models.list();
    assert.deepEqual(page.data.map((m) => m.id), ["run1", "tiny"]);
    assert.equal(page.data[0].object, "model");
    assert.equal((await client.models.retrieve("tiny")).id, "tiny");
  });

  let plain = "";
  await t.step("a plain completion, reproducible with its seed", async () => {
    const r = await client.completions.create(tiny as Body);
    assert.match(r.id, /^cmpl-/);
    assert.equal(r.object, "text_completion");
    assert.equal(r.model, "tiny");
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].index, 0);
    assert.equal(r.choices[0].finish_reason, "length");
    // The byte tokenizer: 2 prompt tokens, and exactly max_tokens generated without EOS stop.
    assert.deepEqual(r.usage, { prompt_tokens: 2, completion_tokens: 12, total_tokens: 14 });
    plain = r.choices[0].text;
    assert.ok(plain.length > 0);
    const again = await client.completions.create(tiny as Body);
    assert.equal(again.choices[0].text, plain);
  });

  await t.step("diffusion settings as extra fields", async () => {
    const r = await client.completions.create(
      { ...tiny, block_size: 8, sampler: "ancestral", steps: 2 } as Body,
    );
    assert.equal(r.usage?.completion_tokens, 12);
    const adaptive = await client.completions.create(
      { ...tiny, block_size: "adaptive", adaptive_sizes: [2, 4] } as Body,
    );
    assert.equal(adaptive.usage?.completion_tokens, 12);
  });

  await t.step("stop strings cut the text at the first one", async () => {
    // Same seed, same text: stop at a piece of it.
    const stop = [...plain].slice(4, 6).join("");
    const r = await client.completions.create({ ...tiny, stop: [stop, "\u0000never"] } as Body);
    assert.equal(r.choices[0].text, plain.slice(0, plain.indexOf(stop)));
    assert.equal(r.choices[0].finish_reason, "stop");
    // A stream never sends text past the stop string, even one split across chunks.
    const stream = await client.completions.create(
      { ...tiny, stop, stream: true } as OpenAI.CompletionCreateParamsStreaming,
    );
    let text = "", finish: string | null = null;
    for await (const chunk of stream) {
      for (const c of chunk.choices) [text, finish] = [text + c.text, c.finish_reason ?? finish];
    }
    assert.equal(text, r.choices[0].text);
    assert.equal(finish, "stop");
  });

  await t.step("streamed: chunks add up to the same text, then usage", async () => {
    const stream = await client.completions.create({
      ...tiny,
      stream: true,
      stream_options: { include_usage: true },
    } as OpenAI.CompletionCreateParamsStreaming);
    let text = "";
    const finishes: (string | null)[] = [];
    let usage: OpenAI.CompletionUsage | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      assert.equal(chunk.object, "text_completion");
      for (const c of chunk.choices) {
        assert.equal(c.index, 0);
        text += c.text;
        finishes.push(c.finish_reason);
      }
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, plain);
    assert.ok(chunks >= 3, `only ${chunks} chunks`);
    assert.equal(finishes.at(-1), "length");
    assert.ok(finishes.slice(0, -1).every((f) => f === null));
    assert.equal(usage?.total_tokens, 14);
  });

  await t.step("streamed: OpenAI's wire format, ending with [DONE]", async () => {
    const r = await fetch(`${base}/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...tiny, stream: true }),
    });
    assert.match(r.headers.get("content-type")!, /text\/event-stream/);
    const frames = (await r.text()).split("\n\n").filter((f) => f !== "");
    assert.ok(frames.every((f) => f.startsWith("data: ")), "no event names");
    assert.equal(frames.at(-1), "data: [DONE]");
    const last = JSON.parse(frames.at(-2)!.slice(6));
    assert.equal(last.choices[0].finish_reason, "length");
    assert.equal(last.choices[0].logprobs, null);
  });

  await t.step("n=2 and a list of prompts: choices indexed prompt × n + sample", async () => {
    const two = await client.completions.create({ ...tiny, n: 2 } as Body);
    assert.deepEqual(two.choices.map((c) => c.index), [0, 1]);
    assert.notEqual(two.choices[0].text, two.choices[1].text);
    assert.deepEqual(two.usage, { prompt_tokens: 2, completion_tokens: 24, total_tokens: 26 });
    const four = await client.completions.create({ ...tiny, prompt: ["a", "bc"], n: 2 } as Body);
    assert.deepEqual(four.choices.map((c) => c.index), [0, 1, 2, 3]);
    assert.equal(four.usage?.prompt_tokens, 3);
    const echoed = await client.completions.create({ ...tiny, echo: true } as Body);
    assert.equal(echoed.choices[0].text, "Hi" + plain);
  });

  await t.step("concurrent requests share the one queue", async () => {
    const before = (await health()).queue.admitted;
    const results = await Promise.all(
      [1, 2, 3, 4].map((seed) => client.completions.create({ ...tiny, seed } as Body)),
    );
    assert.ok(results.every((r) => r.choices[0].text.length > 0));
    const after = await health();
    assert.equal(after.queue.admitted, before + 4);
    assert.equal(after.queue.running, 0);
  });

  await t.step("a stream the client leaves stops the generation", async () => {
    const before = (await health()).generations.cancelled;
    const stream = await client.completions.create(
      {
        ...tiny,
        max_tokens: 2000,
        sampler: "ancestral",
        steps: 4,
        stream: true,
      } as OpenAI.CompletionCreateParamsStreaming,
    );
    for await (const _chunk of stream) break; // the client aborts its request
    let h = await health();
    for (let i = 0; i < 200 && (h.queue.running > 0 || h.generations.cancelled === before); i++) {
      await new Promise((r) => setTimeout(r, 25));
      h = await health();
    }
    assert.equal(h.queue.running, 0);
    assert.equal(h.generations.cancelled, before + 1);
  });

  await t.step("a generation past the timeout is a 504 server_error", async () => {
    const quick = createApp({ gpu, models: fx.models, appJs: "", generationTimeoutMs: 30 });
    const r = await quick.request("/v1/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...tiny, max_tokens: 2000, sampler: "ancestral", steps: 4 }),
    });
    assert.equal(r.status, 504);
    const { error } = await r.json();
    assert.equal(error.type, "server_error");
    assert.match(error.message, /timed out/);
    quick.models[Symbol.dispose]();
  });

  await t.step("an unknown model is a 404 model_not_found", async () => {
    await assert.rejects(
      client.completions.create({ ...tiny, model: "nope" } as Body),
      (e: unknown) => {
        assert.ok(e instanceof OpenAI.NotFoundError, String(e));
        assert.equal(e.status, 404);
        assert.equal(e.code, "model_not_found");
        assert.equal(e.param, "model");
        assert.equal(e.type, "invalid_request_error");
        return true;
      },
    );
  });

  await t.step("invalid fields are 400s naming the field", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ temperature: -1 }, "temperature"],
      [{ top_p: 0 }, "top_p"],
      [{ n: 0 }, "n"],
      [{ block_size: 3 }, "block_size"], // does not divide L = 32
      [{ sampler: "greedy" }, "sampler"],
      [{ stop: ["a", "b", "c", "d", "e"] }, "stop"],
      [{ prompt: [1, 2, 3] }, "prompt"],
      [{ logprobs: 2 }, "logprobs"],
      [{ bogus: 1 }, "bogus"],
      [{ max_tokens: 4095 }, null as unknown as string], // with the prompt, over the limit
    ];
    for (const [extra, param] of cases) {
      await assert.rejects(
        client.completions.create({ ...tiny, ...extra } as Body),
        (e: unknown) => {
          assert.ok(e instanceof OpenAI.BadRequestError, `${JSON.stringify(extra)}: ${e}`);
          assert.equal(e.param, param, JSON.stringify(extra));
          assert.doesNotMatch(e.message, /\bat .*\.ts:\d+|file:\/\//);
          return true;
        },
      );
    }
  });

  await t.step("chat completions: a 400 saying the model has no chat template", async () => {
    await assert.rejects(
      client.chat.completions.create({
        model: "tiny",
        messages: [{ role: "user", content: "hi" }],
      }),
      (e: unknown) => {
        assert.ok(e instanceof OpenAI.BadRequestError, String(e));
        assert.match(e.message, /no chat template/);
        assert.equal(e.code, "no_chat_template");
        return true;
      },
    );
    await assert.rejects(
      client.chat.completions.create({
        model: "nope",
        messages: [{ role: "user", content: "hi" }],
      }),
      OpenAI.NotFoundError,
    );
  });

  await server.shutdown();
  app.models[Symbol.dispose]();
  await Deno.remove(fx.root, { recursive: true });
});
