/**
 * Deno-side device acquisition through Dawn (`npm:webgpu`). This is the only GPU code that is
 * not web-standard: everything after `acquireGpu()` works on a plain `GPUDevice`.
 *
 * Adapter choice: a hardware adapter first (Dawn's own preference order); `adapter` /
 * `BLOCKDIFF_ADAPTER` names one; when there is none, an installed software Vulkan driver is
 * used, Mesa lavapipe first and SwiftShader second, by pointing `VK_ICD_FILENAMES` at it
 * before Dawn starts.
 * @module
 */
import { create, globals } from "webgpu";
import type { Gpu } from "./runtime.ts";
import { createGpu, describeAdapter } from "./adapter.ts";
import { NoAdapterError } from "./errors.ts";

/** Options for `acquireGpu`. */
export interface AcquireOptions {
  /**
   * Adapter to use: `lavapipe` (alias `llvmpipe`), `swiftshader`, or a substring of a hardware
   * adapter's name. Defaults to `BLOCKDIFF_ADAPTER`, then automatic choice.
   */
  adapter?: string;
  /** Extra Dawn toggles, e.g. `["enable-dawn-features=allow_unsafe_apis"]`. */
  dawnOptions?: string[];
}

/** A held device. Release it (or use `await using`) so the process can exit. */
export interface GpuSession {
  /** The runtime on the held device. */
  readonly gpu: Gpu;
  /** The software Vulkan driver file in use, when one was selected by blockdiff. */
  readonly icd: string | null;
  /** Destroys the device; later use of `gpu` fails. */
  release(): void;
  /** Same as `release()`, for `using`. */
  [Symbol.dispose](): void;
}

const LAVAPIPE_ICDS = [
  "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json",
  "/usr/share/vulkan/icd.d/lvp_icd.aarch64.json",
  "/usr/share/vulkan/icd.d/lvp_icd.json",
  "/etc/vulkan/icd.d/lvp_icd.json",
  "/usr/local/share/vulkan/icd.d/lvp_icd.json",
];
const SWIFTSHADER_ICDS = [
  "/usr/lib/chromium/vk_swiftshader_icd.json",
  "/usr/lib/chromium-browser/vk_swiftshader_icd.json",
  "/usr/share/vulkan/icd.d/vk_swiftshader_icd.json",
  "/opt/google/chrome/vk_swiftshader_icd.json",
];

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Paths of the software Vulkan drivers installed here, lavapipe first. */
export function findSoftwareIcds(): { lavapipe: string | null; swiftshader: string | null } {
  return {
    lavapipe: LAVAPIPE_ICDS.find(exists) ?? null,
    swiftshader: SWIFTSHADER_ICDS.find(exists) ?? null,
  };
}

let globalsInstalled = false;
function installGlobals(): void {
  if (globalsInstalled) return;
  const g = globalThis as Record<string, unknown>;
  for (const [k, v] of Object.entries(globals as Record<string, unknown>)) {
    if (!(k in g)) g[k] = v;
  }
  globalsInstalled = true;
}

const NO_ADAPTER_HELP = [
  "No WebGPU adapter found: blockdiff needs a GPU driver (Vulkan, Metal or D3D12) or a software Vulkan driver.",
  "  Debian/Ubuntu without a GPU: sudo apt-get install mesa-vulkan-drivers   (lavapipe; Debian 12 needs it from bookworm-backports:",
  "    echo 'deb http://deb.debian.org/debian bookworm-backports main' | sudo tee /etc/apt/sources.list.d/backports.list",
  "    sudo apt-get update && sudo apt-get install -t bookworm-backports mesa-vulkan-drivers)",
  "  With a GPU: install its vendor driver with Vulkan (Linux), Metal (macOS) or D3D12 (Windows) support.",
].join("\n");

function softwareIcdFor(name: string): string | null | undefined {
  const n = name.toLowerCase();
  const icds = findSoftwareIcds();
  if (n === "lavapipe" || n === "llvmpipe") return icds.lavapipe;
  if (n === "swiftshader") return icds.swiftshader;
  return undefined; // not a software driver name
}

async function tryAdapter(
  options: string[],
): Promise<{ navigator: GPU; adapter: GPUAdapter } | null> {
  const navigator = create(options);
  try {
    const adapter = await navigator.requestAdapter({ powerPreference: "high-performance" });
    return adapter ? { navigator, adapter } : null;
  } catch {
    return null;
  }
}

/**
 * Lists the adapters Dawn can see, as `backend: name` lines (best effort: Dawn reports them
 * when asked for an adapter that does not exist).
 */
export async function listAdapters(): Promise<string[]> {
  installGlobals();
  try {
    await create(["adapter=\u0001none"]).requestAdapter();
  } catch (e) {
    const lines = String((e as Error).message).split("\n").filter((l) => l.includes("backend:"));
    return lines.map((l) => l.replace(/^\s*\*\s*/, ""));
  }
  return [];
}

/** Picks an adapter, creates the device with the limits kernels need and returns the runtime. */
export async function acquireGpu(options: AcquireOptions = {}): Promise<GpuSession> {
  installGlobals();
  const wanted = options.adapter ?? Deno.env.get("BLOCKDIFF_ADAPTER") ?? "";
  const dawn = [...(options.dawnOptions ?? [])];
  const userIcd = Deno.env.get("VK_ICD_FILENAMES") ?? Deno.env.get("VK_DRIVER_FILES");
  let icd: string | null = null;
  let found: { navigator: GPU; adapter: GPUAdapter } | null = null;

  if (wanted) {
    const sw = softwareIcdFor(wanted);
    if (sw === null) {
      throw new NoAdapterError(
        `Adapter '${wanted}' was asked for, but its Vulkan driver is not installed.\n${NO_ADAPTER_HELP}`,
      );
    }
    if (sw) {
      Deno.env.set("VK_ICD_FILENAMES", sw);
      icd = sw;
      found = await tryAdapter(dawn);
    } else {
      found = await tryAdapter([...dawn, `adapter=${wanted}`]);
      if (!found) {
        const seen = await listAdapters();
        throw new NoAdapterError(
          `No adapter named '${wanted}'. Adapters found: ${
            seen.length ? seen.join("; ") : "none"
          }. ` +
            "Use --adapter with one of these names, 'lavapipe' or 'swiftshader'.",
        );
      }
    }
  } else {
    found = await tryAdapter(dawn);
    if (!found && !userIcd) {
      // No adapter through the system's drivers: fall back to a software driver we can find.
      const icds = findSoftwareIcds();
      for (const path of [icds.lavapipe, icds.swiftshader]) {
        if (!path) continue;
        Deno.env.set("VK_ICD_FILENAMES", path);
        found = await tryAdapter(dawn);
        if (found) {
          icd = path;
          break;
        }
      }
    }
  }
  if (!found) throw new NoAdapterError(NO_ADAPTER_HELP);

  const { adapter } = found;
  let navigator: GPU | null = found.navigator;
  let gpu: Gpu;
  try {
    gpu = await createGpu(adapter);
  } catch (e) {
    throw new NoAdapterError(
      `The adapter '${describeAdapter(adapter).name}' refused to create a device: ${
        (e as Error).message
      }`,
    );
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    gpu.destroy();
    // dawn.node keeps the event loop alive while its GPU object is referenced.
    navigator = null;
    void navigator;
  };
  return { gpu, icd: icd ?? userIcd ?? null, release, [Symbol.dispose]: release };
}
