/**
 * A Python pickle reader that never runs code. It interprets the opcodes `torch.save` emits
 * (protocol 2) and the common ones of protocols 0–5, but where Python would import a global and
 * call it, this reader builds an inert {@linkcode PyObject} that only records the global's name,
 * its arguments and its state. The few globals a checkpoint needs are recognised by name
 * (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`, the storage types, `_codecs.encode`
 * for protocol-2 bytes) and turned into plain values; globals that only an attack would name
 * (`os.system`, `builtins.eval`, …) stop the read. Every length, count and depth is bounded, and
 * every failure is one {@linkcode CheckpointError} naming the file.
 * @module
 */
import { CheckpointError } from "../errors.ts";

/** A Python global named by the pickle (`module.name`), never imported. */
export class PyGlobal {
  /** Names `module.name` (module path, e.g. `omegaconf.dictconfig`, and attribute name). */
  constructor(readonly module: string, readonly name: string) {}
  /** `module.name`. */
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A Python tuple (kept apart from lists so a reader can tell them apart). */
export class PyTuple {
  /** Wraps the tuple's elements. */
  constructor(readonly items: unknown[]) {}
}

/**
 * An inert stand-in for an object the pickle would construct: the class, the constructor
 * arguments, and whatever `BUILD` (`__setstate__`), `APPENDS` and `SETITEMS` gave it.
 */
export class PyObject {
  /** The state set by `BUILD` (usually a `Map` of attribute name → value), or undefined. */
  state: unknown = undefined;
  /** Items appended to it (list subclasses). */
  readonly listItems: unknown[] = [];
  /** Items set on it (dict subclasses such as `collections.defaultdict`). */
  readonly dictItems: Map<unknown, unknown> = new Map();
  /** Records a call of `cls` (the class or callable) with `args`. */
  constructor(readonly cls: PyGlobal | unknown, readonly args: unknown[]) {}
  /** `module.name` of the class, or `"?"` when the callable was not a global. */
  get className(): string {
    return this.cls instanceof PyGlobal ? this.cls.qualified : "?";
  }
}

/** Element types of torch storages, by the storage class name. */
export const STORAGE_DTYPES = {
  FloatStorage: { dtype: "float32", bytes: 4 },
  DoubleStorage: { dtype: "float64", bytes: 8 },
  HalfStorage: { dtype: "float16", bytes: 2 },
  BFloat16Storage: { dtype: "bfloat16", bytes: 2 },
  LongStorage: { dtype: "int64", bytes: 8 },
  IntStorage: { dtype: "int32", bytes: 4 },
  ShortStorage: { dtype: "int16", bytes: 2 },
  CharStorage: { dtype: "int8", bytes: 1 },
  ByteStorage: { dtype: "uint8", bytes: 1 },
  BoolStorage: { dtype: "bool", bytes: 1 },
} as const;

/** A torch storage element type. */
export type TorchDtype = typeof STORAGE_DTYPES[keyof typeof STORAGE_DTYPES]["dtype"];

/** A storage the pickle refers to by persistent id; its bytes are `archive/data/<key>`. */
export interface TorchStorage {
  /** Record name inside the zip's `data/` folder. */
  readonly key: string;
  /** Element type. */
  readonly dtype: TorchDtype;
  /** Bytes per element. */
  readonly elementBytes: number;
  /** Elements the pickle says the storage holds. */
  readonly numel: number;
  /** Device it was saved from (`cpu`, `cuda:0`); informational. */
  readonly location: string;
}

/** A tensor view rebuilt by `torch._utils._rebuild_tensor_v2`: storage, offset, size, stride. */
export class TorchTensor {
  /** Describes a view of `storage` (offset and strides in elements). */
  constructor(
    /** The storage the view reads. */
    readonly storage: TorchStorage,
    /** Index of the view's first element in the storage. */
    readonly offset: number,
    /** Sizes, outermost first. */
    readonly shape: readonly number[],
    /** Strides in elements, one per dimension. */
    readonly stride: readonly number[],
  ) {}
}

/** Bounds of {@linkcode unpickle}. */
export interface UnpickleLimits {
  /** Largest pickle accepted, bytes (default 256 MiB). */
  maxBytes?: number;
  /** Largest value stack (default 1,000,000 entries). */
  maxStack?: number;
  /** Deepest MARK nesting (default 10,000). */
  maxMarks?: number;
  /** Most memo entries (default 1,000,000). */
  maxMemo?: number;
}

/**
 * Globals refused outright: nothing here would ever be called, but no checkpoint names them,
 * so a pickle that does is hostile and is reported as such rather than read on.
 */
const HOSTILE_MODULES = new Set([
  "os",
  "posix",
  "nt",
  "subprocess",
  "sys",
  "shutil",
  "socket",
  "importlib",
  "runpy",
  "code",
  "codeop",
  "ctypes",
  "pty",
  "commands",
  "webbrowser",
  "pickle",
  "_pickle",
  "marshal",
  "multiprocessing",
  "signal",
  "threading",
  "asyncio",
  "pdb",
  "timeit",
  "platform",
]);
const HOSTILE_BUILTINS = new Set([
  "eval",
  "exec",
  "execfile",
  "compile",
  "open",
  "__import__",
  "getattr",
  "setattr",
  "delattr",
  "globals",
  "locals",
  "vars",
  "input",
  "breakpoint",
  "apply",
  "file",
  "reload",
]);

function isHostile(module: string, name: string): boolean {
  const top = module.split(".")[0];
  if (HOSTILE_MODULES.has(top)) return true;
  if (top === "builtins" || top === "__builtin__") return HOSTILE_BUILTINS.has(name);
  return false;
}

const MARK = Symbol("mark");

/** Options of {@linkcode unpickle}. */
export interface UnpickleOptions extends UnpickleLimits {
  /** Labels errors (usually `file.ckpt/archive/data.pkl`). */
  name?: string;
}

/**
 * Reads one pickle from `bytes` without running anything. Returns the unpickled value: `null`
 * (None), booleans, numbers (bigint past 2^53), strings, `Uint8Array` (bytes), arrays (lists),
 * {@linkcode PyTuple}, `Map` (dict, OrderedDict), `Set`, {@linkcode TorchTensor},
 * {@linkcode PyGlobal} and {@linkcode PyObject}. Throws {@linkcode CheckpointError} on anything
 * malformed, truncated, oversized or hostile.
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): unknown {
  return new Unpickler(bytes, options).run();
}

class Unpickler {
  private pos = 0;
  private stack: unknown[] = [];
  private marks: number[] = [];
  private memo = new Map<number, unknown>();
  private readonly view: DataView;
  private readonly name: string;
  private readonly maxStack: number;
  private readonly maxMarks: number;
  private readonly maxMemo: number;

  constructor(private readonly bytes: Uint8Array, o: UnpickleOptions) {
    this.name = o.name ?? "pickle";
    const maxBytes = o.maxBytes ?? 256 * 2 ** 20;
    if (bytes.length > maxBytes) {
      this.fail(`is ${bytes.length} bytes, more than the ${maxBytes} allowed`);
    }
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.maxStack = o.maxStack ?? 1_000_000;
    this.maxMarks = o.maxMarks ?? 10_000;
    this.maxMemo = o.maxMemo ?? 1_000_000;
  }

  private fail(msg: string): never {
    throw new CheckpointError(`${this.name}: ${msg}`);
  }

  private need(n: number): number {
    if (!Number.isSafeInteger(n) || n < 0 || this.pos + n > this.bytes.length) {
      this.fail(
        `truncated at byte ${this.pos} (needs ${n} more bytes, file has ${
          this.bytes.length - this.pos
        })`,
      );
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private u8(): number {
    return this.bytes[this.need(1)];
  }
  private u16(): number {
    return this.view.getUint16(this.need(2), true);
  }
  private u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  private i32(): number {
    return this.view.getInt32(this.need(4), true);
  }
  private u64(): number {
    const at = this.need(8);
    const v = this.view.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`length ${v} at byte ${at} is too large`);
    return Number(v);
  }
  private raw(n: number): Uint8Array {
    const at = this.need(n);
    return this.bytes.subarray(at, at + n);
  }
  private line(): string {
    const start = this.pos;
    const end = this.bytes.indexOf(0x0a, start);
    if (end < 0) this.fail(`truncated at byte ${start} (unterminated text argument)`);
    this.pos = end + 1;
    return latin1(this.bytes.subarray(start, end));
  }
  private utf8(n: number): string {
    const raw = this.raw(n);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(raw);
    } catch {
      this.fail(`invalid UTF-8 string before byte ${this.pos}`);
    }
  }

  private push(v: unknown): void {
    if (this.stack.length >= this.maxStack) this.fail(`stack grows past ${this.maxStack} entries`);
    this.stack.push(v);
  }
  private pop(): unknown {
    // Nothing at or below the innermost MARK is reachable until POP_MARK or a MARK-taking op.
    const base = this.marks.length ? this.marks[this.marks.length - 1] + 1 : 0;
    if (this.stack.length <= base) this.fail(`stack underflow at byte ${this.pos - 1}`);
    return this.stack.pop();
  }
  private top(): unknown {
    // Nothing at or below the innermost MARK is reachable until POP_MARK or a MARK-taking op.
    const base = this.marks.length ? this.marks[this.marks.length - 1] + 1 : 0;
    if (this.stack.length <= base) this.fail(`stack underflow at byte ${this.pos - 1}`);
    return this.stack[this.stack.length - 1];
  }
  /** Pops everything above the last MARK (and the mark). */
  private popMark(): unknown[] {
    const m = this.marks.pop();
    if (m === undefined) this.fail(`MARK missing at byte ${this.pos - 1}`);
    const items = this.stack.splice(m);
    if (items[0] !== MARK) this.fail(`corrupt MARK at byte ${this.pos - 1}`);
    return items.slice(1);
  }
  private memoPut(i: number): void {
    if (!this.memo.has(i) && this.memo.size >= this.maxMemo) {
      this.fail(`memo grows past ${this.maxMemo} entries`);
    }
    this.memo.set(i, this.top());
  }
  private memoGet(i: number): void {
    if (!this.memo.has(i)) this.fail(`memo entry ${i} read before it was written`);
    this.push(this.memo.get(i));
  }

  private global(module: string, name: string): PyGlobal {
    if (typeof module !== "string" || typeof name !== "string") {
      this.fail(`global name is not a string at byte ${this.pos - 1}`);
    }
    if (isHostile(module, name)) {
      this.fail(
        `refuses to load: the pickle names ${module}.${name}, which no checkpoint needs ` +
          `(the file is hostile or not a checkpoint); nothing was run`,
      );
    }
    return new PyGlobal(module, name);
  }

  private persistent(pid: unknown): TorchStorage {
    const items = pid instanceof PyTuple ? pid.items : null;
    if (!items || items[0] !== "storage" || items.length < 5) {
      this.fail(`unknown persistent id (expected a torch ('storage', …) tuple)`);
    }
    const [, type, key, location, numel] = items;
    const kind = type instanceof PyGlobal && type.module === "torch"
      ? STORAGE_DTYPES[type.name as keyof typeof STORAGE_DTYPES]
      : undefined;
    if (!kind) {
      this.fail(
        `unsupported storage type ${type instanceof PyGlobal ? type.qualified : String(type)}`,
      );
    }
    if (typeof key !== "string" || !/^[A-Za-z0-9_]{1,64}$/.test(key)) {
      this.fail(`storage key ${JSON.stringify(String(key))} is not a plain record name`);
    }
    if (typeof numel !== "number" || !Number.isSafeInteger(numel) || numel < 0) {
      this.fail(`storage ${key} has a bad element count ${String(numel)}`);
    }
    return {
      key,
      dtype: kind.dtype,
      elementBytes: kind.bytes,
      numel,
      location: typeof location === "string" ? location : "?",
    };
  }

  /** What calling `fn(...args)` would have produced, without calling anything. */
  private call(fn: unknown, args: unknown[]): unknown {
    if (!(fn instanceof PyGlobal)) return new PyObject(fn, args);
    const q = fn.qualified;
    if (q === "collections.OrderedDict") {
      const m = new Map();
      const init = args[0];
      if (Array.isArray(init)) {
        for (const pair of init) {
          const kv = pair instanceof PyTuple ? pair.items : Array.isArray(pair) ? pair : null;
          if (kv?.length === 2) m.set(kv[0], kv[1]);
        }
      }
      return m;
    }
    if (q === "torch._utils._rebuild_tensor_v2" || q === "torch._utils._rebuild_tensor") {
      return this.tensor(args);
    }
    if (
      q === "torch._utils._rebuild_parameter" || q === "torch._utils._rebuild_parameter_with_state"
    ) {
      if (!(args[0] instanceof TorchTensor)) this.fail(`${q} of something that is not a tensor`);
      return args[0];
    }
    if (q === "_codecs.encode" && typeof args[0] === "string") {
      // Protocol 2 stores Python 3 bytes as _codecs.encode(text, "latin1").
      return Uint8Array.from(args[0], (ch) => ch.charCodeAt(0) & 0xff);
    }
    if (q === "copyreg._reconstructor" || q === "copy_reg._reconstructor") {
      return new PyObject(args[0], args.slice(1));
    }
    return new PyObject(fn, args);
  }

  private tensor(args: unknown[]): TorchTensor {
    const [storage, offset, size, stride] = args;
    if (
      !storage || typeof storage !== "object" || !("key" in storage) || !("dtype" in storage)
    ) this.fail(`_rebuild_tensor_v2 without a storage`);
    const ints = (v: unknown, what: string): number[] => {
      const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : null;
      if (!items || items.length > 64) {
        this.fail(`tensor ${what} is not a tuple of at most 64 ints`);
      }
      return items.map((d) => {
        if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) {
          this.fail(`tensor ${what} holds ${String(d)}`);
        }
        return d;
      });
    };
    const shape = ints(size, "size");
    const strides = ints(stride, "stride");
    if (strides.length !== shape.length) this.fail(`tensor stride and size differ in length`);
    if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) {
      this.fail(`tensor storage offset ${String(offset)} is invalid`);
    }
    return new TorchTensor(storage as TorchStorage, offset, shape, strides);
  }

  private setItems(target: unknown, items: unknown[]): void {
    if (items.length % 2) this.fail(`SETITEMS with an odd number of items`);
    const m = target instanceof Map
      ? target
      : target instanceof PyObject
      ? target.dictItems
      : this.fail(`SETITEMS on a ${describe(target)}`);
    for (let i = 0; i < items.length; i += 2) m.set(hashable(items[i]), items[i + 1]);
  }

  private append(target: unknown, items: unknown[]): void {
    if (Array.isArray(target)) target.push(...items);
    else if (target instanceof PyObject) target.listItems.push(...items);
    else this.fail(`APPEND on a ${describe(target)}`);
  }

  run(): unknown {
    for (;;) {
      const at = this.pos;
      const op = this.u8();
      switch (op) {
        case 0x80: { // PROTO
          const v = this.u8();
          if (v > 5) this.fail(`pickle protocol ${v} is newer than 5`);
          break;
        }
        case 0x95: // FRAME
          this.u64();
          break;
        case 0x2e: { // STOP
          const v = this.pop();
          if (this.stack.length || this.marks.length) {
            this.fail(`STOP with items left on the stack`);
          }
          return v;
        }
        case 0x28: // MARK
          if (this.marks.length >= this.maxMarks) {
            this.fail(`MARKs nest deeper than ${this.maxMarks}`);
          }
          this.marks.push(this.stack.length);
          this.push(MARK);
          break;
        case 0x30: // POP
          this.pop();
          break;
        case 0x31: // POP_MARK
          this.popMark();
          break;
        case 0x32: // DUP
          this.push(this.top());
          break;
        case 0x4e: // NONE
          this.push(null);
          break;
        case 0x88: // NEWTRUE
          this.push(true);
          break;
        case 0x89: // NEWFALSE
          this.push(false);
          break;
        case 0x49: { // INT (text)
          const s = this.line();
          if (s === "01") this.push(true);
          else if (s === "00") this.push(false);
          else this.push(this.textInt(s));
          break;
        }
        case 0x4c: // LONG (text)
          this.push(this.textInt(this.line().replace(/L$/, "")));
          break;
        case 0x4a: // BININT
          this.push(this.i32());
          break;
        case 0x4b: // BININT1
          this.push(this.u8());
          break;
        case 0x4d: // BININT2
          this.push(this.u16());
          break;
        case 0x8a: // LONG1
          this.push(this.longBytes(this.u8()));
          break;
        case 0x8b: { // LONG4
          const n = this.i32();
          if (n < 0 || n > 64) this.fail(`LONG4 of ${n} bytes is not a checkpoint integer`);
          this.push(this.longBytes(n));
          break;
        }
        case 0x46: { // FLOAT (text)
          const v = Number(this.line());
          if (Number.isNaN(v)) this.fail(`bad FLOAT at byte ${at}`);
          this.push(v);
          break;
        }
        case 0x47: // BINFLOAT (big-endian)
          this.push(this.view.getFloat64(this.need(8), false));
          break;
        case 0x53: { // STRING (quoted text)
          const s = this.line();
          this.push(s.length >= 2 ? s.slice(1, -1) : s);
          break;
        }
        case 0x54: // BINSTRING
          this.push(latin1(this.raw(this.nonNegative(this.i32()))));
          break;
        case 0x55: // SHORT_BINSTRING
          this.push(latin1(this.raw(this.u8())));
          break;
        case 0x56: // UNICODE (raw-unicode-escape line)
          this.push(
            this.line().replace(
              /\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g,
              (_, u, U) => {
                const cp = parseInt(u ?? U, 16);
                if (cp > 0x10ffff) this.fail(`bad \\U escape in a UNICODE string`);
                return String.fromCodePoint(cp);
              },
            ),
          );
          break;
        case 0x58: // BINUNICODE
          this.push(this.utf8(this.u32()));
          break;
        case 0x8c: // SHORT_BINUNICODE
          this.push(this.utf8(this.u8()));
          break;
        case 0x8d: // BINUNICODE8
          this.push(this.utf8(this.u64()));
          break;
        case 0x42: // BINBYTES
          this.push(this.raw(this.u32()).slice());
          break;
        case 0x43: // SHORT_BINBYTES
          this.push(this.raw(this.u8()).slice());
          break;
        case 0x8e: // BINBYTES8
        case 0x96: // BYTEARRAY8
          this.push(this.raw(this.u64()).slice());
          break;
        case 0x5d: // EMPTY_LIST
          this.push([]);
          break;
        case 0x6c: // LIST
          this.push(this.popMark());
          break;
        case 0x61: { // APPEND
          const v = this.pop();
          this.append(this.top(), [v]);
          break;
        }
        case 0x65: { // APPENDS
          const items = this.popMark();
          this.append(this.top(), items);
          break;
        }
        case 0x29: // EMPTY_TUPLE
          this.push(new PyTuple([]));
          break;
        case 0x74: // TUPLE
          this.push(new PyTuple(this.popMark()));
          break;
        case 0x85: // TUPLE1
          this.push(new PyTuple([this.pop()]));
          break;
        case 0x86: { // TUPLE2
          const b = this.pop(), a = this.pop();
          this.push(new PyTuple([a, b]));
          break;
        }
        case 0x87: { // TUPLE3
          const c = this.pop(), b = this.pop(), a = this.pop();
          this.push(new PyTuple([a, b, c]));
          break;
        }
        case 0x7d: // EMPTY_DICT
          this.push(new Map());
          break;
        case 0x64: { // DICT
          const m = new Map();
          this.setItems(m, this.popMark());
          this.push(m);
          break;
        }
        case 0x73: { // SETITEM
          const v = this.pop(), k = this.pop();
          this.setItems(this.top(), [k, v]);
          break;
        }
        case 0x75: { // SETITEMS
          const items = this.popMark();
          this.setItems(this.top(), items);
          break;
        }
        case 0x8f: // EMPTY_SET
          this.push(new Set());
          break;
        case 0x90: { // ADDITEMS
          const items = this.popMark();
          const s = this.top();
          if (!(s instanceof Set)) this.fail(`ADDITEMS on a ${describe(s)}`);
          for (const v of items) s.add(hashable(v));
          break;
        }
        case 0x91: // FROZENSET
          this.push(new Set(this.popMark().map(hashable)));
          break;
        case 0x63: { // GLOBAL
          const module = this.line();
          this.push(this.global(module, this.line()));
          break;
        }
        case 0x93: { // STACK_GLOBAL
          const name = this.pop(), module = this.pop();
          this.push(this.global(module as string, name as string));
          break;
        }
        case 0x52: { // REDUCE
          const args = this.pop(), fn = this.pop();
          if (!(args instanceof PyTuple)) {
            this.fail(`REDUCE arguments are not a tuple at byte ${at}`);
          }
          this.push(this.call(fn, args.items));
          break;
        }
        case 0x81: { // NEWOBJ
          const args = this.pop(), cls = this.pop();
          if (!(args instanceof PyTuple)) {
            this.fail(`NEWOBJ arguments are not a tuple at byte ${at}`);
          }
          this.push(this.construct(cls, args.items));
          break;
        }
        case 0x92: { // NEWOBJ_EX
          const kwargs = this.pop(), args = this.pop(), cls = this.pop();
          if (!(args instanceof PyTuple)) {
            this.fail(`NEWOBJ_EX arguments are not a tuple at byte ${at}`);
          }
          const o = this.construct(cls, args.items);
          if (o instanceof PyObject && kwargs instanceof Map) o.dictItems.set("__kwargs__", kwargs);
          this.push(o);
          break;
        }
        case 0x69: { // INST
          const module = this.line();
          const cls = this.global(module, this.line());
          this.push(this.construct(cls, this.popMark()));
          break;
        }
        case 0x6f: { // OBJ
          const items = this.popMark();
          if (!items.length) this.fail(`OBJ without a class at byte ${at}`);
          this.push(this.construct(items[0], items.slice(1)));
          break;
        }
        case 0x62: { // BUILD
          const state = this.pop();
          const o = this.top();
          if (o instanceof PyObject) o.state = state;
          // On a dict or a tensor, BUILD sets Python attributes (a state_dict's `_metadata`,
          // a parameter's hooks), never items: nothing to keep.
          else if (!(o instanceof Map) && !(o instanceof TorchTensor)) {
            this.fail(`BUILD on a ${describe(o)}`);
          }
          break;
        }
        case 0x70: // PUT
          this.memoPut(this.textIndex(this.line()));
          break;
        case 0x71: // BINPUT
          this.memoPut(this.u8());
          break;
        case 0x72: // LONG_BINPUT
          this.memoPut(this.u32());
          break;
        case 0x94: // MEMOIZE
          this.memoPut(this.memo.size);
          break;
        case 0x67: // GET
          this.memoGet(this.textIndex(this.line()));
          break;
        case 0x68: // BINGET
          this.memoGet(this.u8());
          break;
        case 0x6a: // LONG_BINGET
          this.memoGet(this.u32());
          break;
        case 0x50: // PERSID
          this.push(this.persistent(new PyTuple(["storage", this.line()])));
          break;
        case 0x51: // BINPERSID
          this.push(this.persistent(this.pop()));
          break;
        default:
          this.fail(
            `unsupported pickle opcode 0x${op.toString(16).padStart(2, "0")} at byte ${at} ` +
              `(not a torch checkpoint, or corrupt)`,
          );
      }
    }
  }

  private construct(cls: unknown, args: unknown[]): unknown {
    if (cls instanceof PyGlobal && cls.qualified === "collections.OrderedDict") return new Map();
    return new PyObject(cls, args);
  }

  private nonNegative(n: number): number {
    if (n < 0) this.fail(`negative length ${n} before byte ${this.pos}`);
    return n;
  }

  private textInt(s: string): number | bigint {
    if (!/^[+-]?\d{1,40}$/.test(s.trim())) {
      this.fail(`bad integer ${JSON.stringify(s.slice(0, 40))}`);
    }
    const b = BigInt(s.trim());
    return toNumber(b);
  }

  private textIndex(s: string): number {
    if (!/^\d{1,10}$/.test(s)) this.fail(`bad memo index ${JSON.stringify(s.slice(0, 20))}`);
    return Number(s);
  }

  private longBytes(n: number): number | bigint {
    if (n > 64) this.fail(`LONG1 of ${n} bytes is not a checkpoint integer`);
    const b = this.raw(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (n && b[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    return toNumber(v);
  }
}

function toNumber(b: bigint): number | bigint {
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(b)
    : b;
}

function latin1(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 8192) {
    s += String.fromCharCode(...b.subarray(i, Math.min(b.length, i + 8192)));
  }
  return s;
}

/** Tuple keys are compared by value in Python; render them as a string key here. */
function hashable(k: unknown): unknown {
  return k instanceof PyTuple ? `(${k.items.map(String).join(", ")})` : k;
}

/** A short name of a value's Python type, for messages. */
export function describe(v: unknown): string {
  if (v === null) return "None";
  if (v instanceof PyObject) return `${v.className} object`;
  if (v instanceof PyGlobal) return v.qualified;
  if (v instanceof PyTuple) return "tuple";
  if (v instanceof TorchTensor) return "tensor";
  if (v instanceof Map) return "dict";
  if (Array.isArray(v)) return "list";
  if (v instanceof Uint8Array) return "bytes";
  if (v === MARK) return "MARK";
  return typeof v;
}
