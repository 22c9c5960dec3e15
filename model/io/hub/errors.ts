/**
 * The Hub client's error: one line naming the repository or file and the fix.
 * @module
 */
import { IoError } from "../errors.ts";

/** A Hub download failed (unknown repo, missing file, no access, no network, offline miss). */
export class HubError extends IoError {}
