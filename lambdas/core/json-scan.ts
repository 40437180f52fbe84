import { JSON_SCAN_WASM } from './json-scan-module.ts';

/**
 * The WebAssembly kernels of json-scan.wat, instantiated once per process. Calls are synchronous, so one
 * memory serves every caller in turn: each copies its bytes in at `FREE_AT` or beyond before a call, and
 * reads its results before the next. The memory grows to the largest input seen.
 */
const wasm = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
const instance = new wasm.Instance(new wasm.Module(Buffer.from(JSON_SCAN_WASM, 'base64')));
const memory = instance.exports.memory as WasmMemory;
const scan = instance.exports.topLevelIdValue as (start: number, end: number) => number;

/** The first byte of memory callers may write (the kernel keeps constants below it). */
export const FREE_AT = (instance.exports.free as { value: number }).value;
const PAGE_BYTES = 65_536;
let view = Buffer.from(memory.buffer);

/** The kernel's exports, by name (line-kernel.ts calls the line kernel). */
export const kernel = instance.exports as Readonly<Record<string, unknown>>;

/** Who wrote into the memory last: a caller that keeps bytes there between calls checks it still holds them. */
let holder: object | undefined;

/**
 * The memory as a Buffer, at least `bytes` long (grown if needed; a grown memory is a new buffer), for
 * `caller` to write into: it holds the memory until another caller asks for it.
 */
export function kernelMemory(bytes: number, caller: object): Buffer {
  holder = caller;
  if (bytes > view.length) {
    memory.grow(Math.ceil((bytes - view.length) / PAGE_BYTES));
    view = Buffer.from(memory.buffer);
  }
  return view;
}

/** Whether nobody but `caller` wrote into the memory since `caller` last asked for it. */
export const holdsKernelMemory = (caller: object): boolean => holder === caller;

/** `topLevelIdValue` as a holder of the memory (it keeps nothing there between calls). */
const SCAN = {};

/**
 * The offset in `json` of the value of the first key `id` of its outermost object, or -1 if there is none or
 * that key is not followed by `:`. Strings are skipped whole, brackets outside them counted.
 */
export function topLevelIdValue(json: Uint8Array): number {
  const bytes = kernelMemory(FREE_AT + json.length, SCAN);
  bytes.set(json, FREE_AT);
  const value = scan(FREE_AT, FREE_AT + json.length);
  return value < 0 ? value : value - FREE_AT;
}

/** The part of the WebAssembly API used here (the project's TypeScript libs do not declare it). */
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { readonly exports: Record<string, unknown> };
}

interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
