/**
 * Lightning `.ckpt` files on disk: read whole into memory (the pickle is interpreted without
 * running code) and written atomically.
 * @module
 */
import { writeAtomic } from "../_atomic.ts";
import { IoError } from "../errors.ts";
import {
  encodeLightningCheckpoint,
  type LightningCheckpoint,
  type LightningReadOptions,
  type LightningWriteInput,
  readLightningCheckpoint,
} from "./lightning.ts";

/**
 * Loads the Lightning checkpoint at `path` (see {@linkcode readLightningCheckpoint}). Throws
 * {@linkcode IoError} when the file cannot be read.
 */
export async function loadLightningCheckpoint(
  path: string,
  options: LightningReadOptions = {},
): Promise<LightningCheckpoint> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new IoError(`${path}: cannot read: ${(e as Error).message}`, { cause: e });
  }
  return readLightningCheckpoint(bytes, path, options);
}

/**
 * Writes a Lightning checkpoint to `path` atomically (see {@linkcode encodeLightningCheckpoint}):
 * a killed writer leaves the previous file, or none, never a partial one.
 */
export async function saveLightningCheckpoint(
  path: string,
  input: LightningWriteInput,
): Promise<void> {
  const chunks = encodeLightningCheckpoint(input);
  await writeAtomic(path, async (write) => {
    for (const c of chunks) await write(c);
  });
}
