/**
 * Writing a safetensors file to disk atomically (Deno): the bytes `encodeSafetensors` produces,
 * streamed one tensor at a time.
 * @module
 */
import { writeAtomic } from "./_atomic.ts";
import {
  plan,
  type SafetensorsWriteOptions,
  tensorBytes,
  type TensorsInput,
} from "./safetensors_write.ts";

/**
 * Writes `tensors` to `path` atomically (temporary file in the same directory, fsync, rename):
 * a crash or a full disk leaves the previous file at `path` untouched. Tensors are converted one
 * at a time, so f16 / bf16 output needs no second copy of the whole model.
 */
export async function writeSafetensors(
  path: string,
  tensors: TensorsInput,
  options: SafetensorsWriteOptions = {},
): Promise<void> {
  const p = plan(path, tensors, options);
  await writeAtomic(path, async (write) => {
    await write(p.head);
    for (const it of p.items) await write(tensorBytes(it));
  }, options);
}
