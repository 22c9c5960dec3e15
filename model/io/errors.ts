/**
 * Error types of checkpoint and file I/O. Every message names the file (and the tensor key
 * where there is one) so that a user can tell which file is bad and why.
 * @module
 */
import { BlockdiffError } from "@blockdiff/core";

/** A file could not be read or written (missing, permission, disk full, killed writer). */
export class IoError extends BlockdiffError {
  /** Exit code 6: the input is the user's to fix. */
  override readonly exitCode = 6;
}

/** A safetensors file is malformed, truncated or hostile. */
export class SafetensorsError extends IoError {}

/** A checkpoint (HF layout or training checkpoint) does not match its configuration. */
export class CheckpointError extends IoError {}

/** A model configuration is inconsistent (e.g. hidden size not divisible by the head count). */
export class ConfigError extends BlockdiffError {
  /** Exit code 2, as for a usage error. */
  override readonly exitCode = 2;
}
