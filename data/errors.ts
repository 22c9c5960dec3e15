/**
 * The data pipeline's error type.
 * @module
 */
import { BlockdiffError } from "@blockdiff/core";

/** Options for {@link DataError}: the file concerned, the fix to suggest, and the cause. */
export interface DataErrorOptions {
  /** The file (or source) the error is about, when there is one. */
  file?: string;
  /** One sentence telling the user how to fix it. */
  fix?: string;
  /** The underlying error, if any. */
  cause?: unknown;
}

/**
 * An error in loading, parsing or tokenizing data. Its message names the file and the fix,
 * e.g. `data.jsonl line 3: invalid JSON (…). Fix: make each line one JSON object.`
 */
export class DataError extends BlockdiffError {
  /** Exit code 6, shared with I/O errors: the input is the user's to fix. */
  override readonly exitCode: number = 6;
  /** The file (or source) the error is about, when there is one. */
  readonly file?: string;
  /** How to fix it. */
  readonly fix?: string;
  /** Prefixes `message` with `options.file` and appends `Fix: options.fix` when given. */
  constructor(message: string, options: DataErrorOptions = {}) {
    const where = options.file ? `${options.file}: ` : "";
    const fix = options.fix ? ` Fix: ${options.fix}` : "";
    super(
      `${where}${message}${fix}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "DataError";
    this.file = options.file;
    this.fix = options.fix;
  }
}
