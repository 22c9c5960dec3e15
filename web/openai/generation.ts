/**
 * Runs one validated completion request on the server's GPU: waits for its turn in the queue
 * the native API uses, loads the model, then generates each prompt's `n` choices as one batch
 * with the native API's settings ({@link toGenerateOptions}). A choice's text is its
 * continuation up to the first EOS (when stopping at EOS), at most `max_tokens` tokens, cut at
 * the first stop string.
 * @module
 */
import { DeviceLostError } from "@blockdiff/core";
import type { Tokenizer } from "@blockdiff/data";
import { generate } from "@blockdiff/sampling";
import type { GenerateDeps } from "../generate_route.ts";
import type { Ticket } from "../queue.ts";
import { toGenerateOptions } from "../options.ts";
import type { FinishReason } from "./chunks.ts";
import { cutAtStop } from "./stop.ts";
import type { CompletionRequest } from "./validate.ts";

/** A choice's finished text. */
export interface ChoiceResult {
  /** The text (prompt first when `echo`), cut at the first stop string. */
  text: string;
  /** The part of `text` after the prompt. */
  completion: string;
  /** Why it ended. */
  finish: FinishReason;
  /** Tokens of the text after the prompt. */
  tokens: number;
}

/** What a request produced. */
export interface CompletionResult {
  /** The choices, indexed as OpenAI indexes them (prompt index × n + sample index). */
  choices: ChoiceResult[];
  /** Tokens of the prompts, each counted once. */
  promptTokens: number;
}

/** Hooks of a streamed run. */
export interface CompletionHooks {
  /** A prompt's choices began (`echo`: their text starts with the prompt). */
  onStart?(firstIndex: number, prompt: string): void;
  /** Choice `index`'s continuation so far (uncut by stop strings), after each block. */
  onText?(index: number, text: string): void;
  /** Choice `index` is done. */
  onChoice?(index: number, choice: ChoiceResult): void;
}

/** The generation ran past the server's timeout. */
export class CompletionTimeout extends Error {}
/** The GPU device was lost during the run and has been replaced; the client may retry. */
export class DeviceRestarted extends Error {}

/** A row's continuation: up to the first EOS (when `stopAtEos`), at most `cap` tokens. */
function continuation(
  tok: Tokenizer,
  ids: readonly number[],
  prefix: number,
  cap: number,
  stopAtEos: boolean,
): { text: string; tokens: number; eos: boolean } {
  let end = Math.min(ids.length, prefix + cap);
  let eos = false;
  if (stopAtEos) {
    const i = ids.indexOf(tok.eosId, prefix);
    if (i >= 0 && i < end) [end, eos] = [i, true];
  }
  // Positions not yet generated (a stream's later blocks) end the text too.
  const firstHole = ids.findIndex((id, i) => i >= prefix && i < end && id === undefined);
  if (firstHole >= 0) end = firstHole;
  return { text: tok.decode(ids.slice(prefix, end)), tokens: end - prefix, eos };
}

/**
 * Runs `req` holding `ticket` (released at the end, whatever happens). Errors a client caused
 * (a prompt too long for `max_tokens`) are RangeErrors; `signal` aborts between network calls.
 */
export async function runCompletion(
  deps: GenerateDeps,
  req: CompletionRequest,
  ticket: Ticket,
  signal: AbortSignal,
  abort: (reason: Error) => void,
  hooks: CompletionHooks = {},
): Promise<CompletionResult> {
  const { limits } = deps;
  const recoverFrom = async (e: unknown): Promise<unknown> => {
    if (!(e instanceof DeviceLostError) || !deps.restartGpu) return e;
    console.error(`GPU device lost (${e.message}); restarting it`);
    await deps.restartGpu();
    deps.counters.deviceRestarts++;
    return new DeviceRestarted(e.message);
  };
  try {
    await ticket.turn(signal);
    // The timeout covers the generation, not the wait for the GPU.
    const timer = setTimeout(
      () => abort(new CompletionTimeout("timeout")),
      limits.generationTimeoutMs,
    );
    try {
      let m;
      try {
        m = await deps.models.load(deps.gpu, req.model);
      } catch (e) {
        throw await recoverFrom(e);
      }
      const tok = m.tokenizer;
      const mdlm = m.info.algo === "mdlm";
      const out: CompletionResult = { choices: [], promptTokens: 0 };
      for (const [p, prompt] of req.prompts.entries()) {
        const promptIds = tok.encode(prompt);
        out.promptTokens += promptIds.length;
        const prefix = 1 + promptIds.length;
        // MDLM samples exactly its model length; its text is then cut to max_tokens.
        const length = mdlm ? m.info.config.length : prefix + req.maxTokens;
        if (length > limits.maxLength || prefix >= length) {
          throw new RangeError(
            `the prompt's ${promptIds.length} tokens plus max_tokens ${req.maxTokens} are over ` +
              `the server's ${limits.maxLength - 1} tokens; shorten the prompt or lower max_tokens`,
          );
        }
        const first = p * req.n;
        hooks.onStart?.(first, prompt);
        const rows = Array.from({ length: req.n }, () => [tok.bosId, ...promptIds]);
        const opts = toGenerateOptions({ ...req.settings, prompt, length }, {
          signal,
          onStep: hooks.onText && !req.settings.entropyStop
            ? (e) => {
              if (e.kind !== "block") return;
              for (let r = 0; r < req.n; r++) {
                for (let j = 0; j < e.size; j++) {
                  rows[r][e.blockStart + j] = e.block[r * e.size + j];
                }
                const c = continuation(tok, rows[r], prefix, req.maxTokens, req.settings.stopAtEos);
                hooks.onText!(first + r, c.text);
              }
            }
            : undefined,
        });
        opts.batch = req.n;
        if (req.adaptiveSizes) opts.blockSize = { adaptive: { sizes: req.adaptiveSizes } };
        let r;
        try {
          r = await generate(m.dit, tok, opts);
        } catch (e) {
          throw await recoverFrom(e);
        }
        for (let j = 0; j < req.n; j++) {
          const c = continuation(
            tok,
            r.ids[j],
            r.prefixLength,
            req.maxTokens,
            req.settings.stopAtEos,
          );
          const cut = cutAtStop(c.text, req.stop);
          const choice: ChoiceResult = {
            text: (req.echo ? prompt : "") + cut.text,
            completion: cut.text,
            finish: cut.stopped || c.eos || r.stopReasons[j] !== null ? "stop" : "length",
            tokens: cut.stopped ? tok.encode(cut.text).length : c.tokens,
          };
          out.choices.push(choice);
          hooks.onChoice?.(first + j, choice);
        }
      }
      return out;
    } finally {
      clearTimeout(timer);
      // A cancelled run may leave recorded work behind; flush it before the next turn.
      await deps.gpu.sync().catch(() => {});
    }
  } finally {
    ticket.release();
  }
}
