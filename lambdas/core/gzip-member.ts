import { constants, crc32, createInflateRaw, type InflateRaw, inflateRawSync } from 'node:zlib';

/**
 * Reading one gzip member (RFC 1952) the fast way, checked as gunzip checks it (CRC-32 and length): the
 * archiver writes every object as one member with a plain header, so a verifier inflates raw deflate into one
 * buffer sized from the trailer's ISIZE and computes the CRC over the output in one pass. Anything else
 * (several members, a header CRC, bytes that are not gzip) is left to `gunzipSync`, whose errors say what is
 * wrong (`gunzipBytes` in archiving.ts).
 */

const GZIP_TRAILER = 8;
/**
 * The largest output inflated in place: the trailer's length is only a claim until the member is inflated, and
 * memory is set aside for it first. An archived events object is far smaller (one stream batch of records).
 */
const MAX_IN_PLACE_BYTES = 256 * 1024 * 1024;
const FLAG = { hcrc: 0x02, extra: 0x04, name: 0x08, comment: 0x10 } as const;

/** The member's output if `bytes` is exactly one gzip member whose CRC and length hold; else undefined. */
export function inflateSingleMember(bytes: Buffer): Buffer | undefined {
  const deflated = deflatedPart(bytes);
  if (!deflated) return undefined;
  let inflated: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    inflated = inflateRawSync(deflated, { chunkSize: outputSizeHint(bytes), info: true }) as never;
  } catch {
    return undefined;
  }
  const whole = inflated.engine.bytesWritten === deflated.length;
  return whole && trailerHolds(bytes, inflated.buffer) ? inflated.buffer : undefined;
}

/**
 * Inflates single gzip members into memory the caller provides, one after another, with one zlib engine.
 *
 * Why not `inflateSingleMember`: Node's zlib has no public call that writes into a caller's buffer, so each
 * call allocates its output (about 600 KB per archived events object) and a new engine. Verifying 100,000
 * archived events allocated 119 MB that way per run, and the garbage collection it set off cost about a fifth
 * of the run's CPU, most of it on V8's helper threads. Here the engine's handle is driven exactly as Node's
 * own synchronous zlib calls drive it (`processChunkSync` in lib/zlib.js: `writeSync` with the input and the
 * output range, then `_writeState` holds the output and input left). Where this Node lacks those internals,
 * `into` answers undefined and callers take the public path.
 */
export class GzipMemberInflater {
  private engine: (InflateRaw & InflateInternals) | undefined;

  /**
   * Inflates `body` into `output(bytes)`, a buffer of at least `bytes` bytes: the trailer's length plus one
   * byte that must stay unwritten (the proof that the deflate stream ended where the trailer says). Returns
   * the inflated bytes (a view of that buffer), or undefined if `body` is not exactly one gzip member whose
   * CRC and length hold, or if this Node cannot inflate in place.
   */
  into(body: Uint8Array, output: (size: number) => Buffer): Buffer | undefined {
    const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    const deflated = deflatedPart(bytes);
    const engine = deflated && this.readyEngine();
    if (!deflated || !engine) return undefined;
    const size = bytes.readUInt32LE(bytes.length - 4);
    if (size > MAX_IN_PLACE_BYTES) return undefined;
    let target: Buffer;
    try {
      target = output(size + 1);
      engine._handle.writeSync(constants.Z_FINISH, deflated, 0, deflated.length, target, 0, size + 1);
    } catch {
      this.discard();
      return undefined;
    }
    // A zlib error destroys the engine as it is reported (synchronously, from within writeSync).
    if (engine.destroyed) {
      this.discard();
      return undefined;
    }
    const [outputLeft, inputLeft] = engine._writeState;
    const inflated = target.subarray(0, size);
    return inputLeft === 0 && outputLeft === 1 && trailerHolds(bytes, inflated) ? inflated : undefined;
  }

  /** The engine, reset for a new member; undefined if this Node's zlib lacks the internals used here. */
  private readyEngine(): InflateInternals | undefined {
    if (this.engine) {
      this.engine.reset();
      return this.engine;
    }
    const engine = createInflateRaw() as InflateRaw & Partial<InflateInternals>;
    if (typeof engine._handle?.writeSync !== 'function' || !(engine._writeState instanceof Uint32Array)) {
      engine.close();
      return undefined;
    }
    // An error is also emitted as an event; without a listener it would be thrown on the next tick.
    engine.on('error', () => {});
    this.engine = engine as InflateRaw & InflateInternals;
    return this.engine;
  }

  private discard(): void {
    this.engine?.destroy();
    this.engine = undefined;
  }
}

/** The zlib internals `GzipMemberInflater` drives (as lib/zlib.js's `processChunkSync` does). */
interface InflateInternals {
  readonly _handle: {
    writeSync(
      flush: number,
      input: Uint8Array,
      inputOffset: number,
      inputLength: number,
      output: Uint8Array,
      outputOffset: number,
      outputLength: number,
    ): void;
  };
  /** After a write: output bytes left, input bytes left. */
  readonly _writeState: Uint32Array;
  readonly destroyed: boolean;
  reset(): void;
}

/** The raw deflate data of a single plain gzip member, or undefined if `bytes` is not one. */
function deflatedPart(bytes: Buffer): Buffer | undefined {
  const header = memberHeaderLength(bytes);
  if (header === undefined || bytes.length < header + GZIP_TRAILER) return undefined;
  return bytes.subarray(header, bytes.length - GZIP_TRAILER);
}

/** Whether `output` has the CRC-32 and the length (mod 2^32) the member's trailer records. */
function trailerHolds(bytes: Buffer, output: Uint8Array): boolean {
  const crc = bytes.readUInt32LE(bytes.length - GZIP_TRAILER);
  const size = bytes.readUInt32LE(bytes.length - 4);
  return size === output.length % 2 ** 32 && crc32(output) === crc;
}

/** Length of a gzip member header (RFC 1952 §2.3) without a header CRC; undefined for anything else. */
function memberHeaderLength(bytes: Buffer): number | undefined {
  if (bytes.length < 10 || bytes[0] !== 0x1f || bytes[1] !== 0x8b || bytes[2] !== 8) return undefined;
  const flags = bytes[3]!;
  if (flags & (FLAG.hcrc | 0xe0)) return undefined;
  let at = 10;
  if (flags & FLAG.extra) at += 2 + (bytes.length >= 12 ? bytes.readUInt16LE(10) : 0);
  for (const flag of [FLAG.name, FLAG.comment]) {
    if (!(flags & flag)) continue;
    const end = bytes.indexOf(0, at);
    if (end < 0) return undefined;
    at = end + 1;
  }
  return at;
}

/** ISIZE (the uncompressed length mod 2^32) as an output buffer size: only a hint, clamped. */
export function outputSizeHint(bytes: Buffer): number {
  const size = bytes.length >= 18 ? bytes.readUInt32LE(bytes.length - 4) : 0;
  return Math.min(Math.max(size + 1, 16 * 1024), 64 * 1024 * 1024);
}
