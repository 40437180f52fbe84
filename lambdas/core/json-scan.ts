import { JSON_SCAN_WASM } from './json-scan-module.ts';

/**
 * The record-id scan of `hasTopLevelId` (verify-log.ts), run by the WebAssembly kernel of json-scan.wat. One
 * instance per process: calls are synchronous, so one memory serves them all. Each record is copied in, and
 * the memory grows to the largest record seen.
 */
const wasm = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
const instance = new wasm.Instance(new wasm.Module(Buffer.from(JSON_SCAN_WASM, 'base64')));
const memory = instance.exports.memory as WasmMemory;
const scan = instance.exports.topLevelIdValue as (length: number) => number;
let view = new Uint8Array(memory.buffer);

const PAGE_BYTES = 65_536;

/**
 * The offset in `json` of the value of the first key `id` of its outermost object, or -1 if there is none or
 * that key is not followed by `:`. Strings are skipped whole, brackets outside them counted.
 */
export function topLevelIdValue(json: Uint8Array): number {
  if (json.length > view.length) {
    memory.grow(Math.ceil((json.length - view.length) / PAGE_BYTES));
    view = new Uint8Array(memory.buffer);
  }
  view.set(json, 0);
  return scan(json.length);
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
