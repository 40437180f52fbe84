import { hash as oneShotHash } from 'node:crypto';
import { GzipMemberInflater } from './gzip-member.ts';
import { FREE_AT, holdsKernelMemory, kernel, kernelMemory } from './json-scan.ts';
import { toHex } from './merkle.ts';

const HASH_BYTES = 32;
const QUOTE = 0x22;

/** Makes `HashedLeaves` (set by its static block: nothing outside this module can). */
let issue: (start: number, eventIds: readonly string[]) => HashedLeaves;

/**
 * The leaves of one append, checked and hashed from the archiver's events lines by `EventLinesReader`: leaf
 * `start + i` is a record whose own top-level `id` is `eventIds[i]` and whose leaf hash,
 * SHA-256(0x00 || record), is `hashes[32i, 32i + 32)` and equal to the hash stored on its line.
 * `LogVerifier.push` takes them in place of leaf objects, for the append with this very `eventIds` array,
 * and goes on from the hashes (root, signature, frontier). Only this module makes them.
 */
export class HashedLeaves {
  private constructor(
    readonly start: number,
    readonly eventIds: readonly string[],
    /** The leaf hashes, 32 bytes each, in leaf order. */
    readonly hashes: Uint8Array,
    /**
     * A 64-bit FNV-1a hash of each event id (its bytes), as two 32-bit words (low, high) per leaf: callers
     * that look for an id recorded twice compare these, not the ids.
     */
    readonly idHashes: Uint32Array,
  ) {}

  static {
    issue = (start, eventIds) =>
      new HashedLeaves(
        start,
        eventIds,
        new Uint8Array(eventIds.length * HASH_BYTES),
        new Uint32Array(2 * eventIds.length),
      );
  }

  get count(): number {
    return this.eventIds.length;
  }

  /** The leaf hashes as hex, as verifiers report them. */
  hexHashes(): string[] {
    return Array.from({ length: this.count }, (_, i) =>
      toHex(this.hashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES)),
    );
  }
}

/** The kernel exports used here (json-scan.wat documents them). */
const checkLines = kernel.checkLines as (
  at: number,
  end: number,
  count: number,
  leaf: number,
  head: number,
  headLength: number,
  tail: number,
  tailLength: number,
  ids: number,
  idsEnd: number,
  out: number,
  stored: number,
) => number;
const firstDifferentHash = kernel.firstDifferentHash as (a: number, b: number, count: number) => number;

/** `hash(…, 'latin1')`: a digest as one char per byte, written straight into memory (no Buffer per leaf). */
const latin1Digest = oneShotHash as unknown as (
  algorithm: string,
  data: Uint8Array,
  encoding: 'latin1',
) => string;
type RawBuffer = Buffer & { latin1Write(text: string, offset: number, length: number): number };

/**
 * Reads one log's leaves from its events objects (archive-layout.ts: one line per leaf,
 * `{"appendStart":…,"eventId":"…","leafHash":"…","leafIndex":…,"origin":"…","record":{…}}`) as the
 * archiver writes them, in bulk: the WebAssembly kernel compares every header byte with the header of the
 * expected leaf, checks that the record's own id is the event's and decodes the stored leaf hash; then each
 * record is hashed where it lies (the kernel wrote the 0x00 prefix over the byte before it) and the hashes
 * are compared with the stored ones.
 *
 * It only ever accepts: a line that is not exactly the archiver's line for the expected leaf (an id JSON
 * would escape, a stored hash in capitals, any changed byte) makes `readLeaves` return false, and the caller
 * verifies the archive on the path that parses every line and names what differs.
 */
export class EventLinesReader {
  /** `,"origin":"…","record":{`, the end of every header of this log. */
  private readonly tail: Buffer;
  /** The loaded object: inflated bytes, or a gzip member inflated straight into the kernel memory. */
  private object: { bytes: Uint8Array } | { gzip: Uint8Array } = { bytes: new Uint8Array(0) };
  /** The loaded object's inflated length. */
  private length = 0;
  private position = 0;

  constructor(origin: string) {
    this.tail = Buffer.from(`,"origin":${JSON.stringify(origin)},"record":{`, 'utf8');
  }

  /** Starts reading an inflated events object from its first line. */
  load(object: Uint8Array): void {
    this.object = { bytes: object };
    this.length = object.length;
    this.position = 0;
    this.copyIn();
  }

  /**
   * Starts reading a gzipped events object from its first line, inflating it straight into the kernel memory
   * (no copy, no output buffer of its own). False, with an empty object loaded, if it is not one gzip member
   * whose CRC and length hold, or if this Node cannot inflate in place (then `load(gunzipBytes(body))` reads it).
   */
  loadGzip(body: Uint8Array): boolean {
    const inflated = inflateIntoMemory(body, this);
    if (!inflated) {
      this.load(new Uint8Array(0));
      return false;
    }
    this.object = { gzip: body };
    this.length = inflated.length;
    this.position = 0;
    return true;
  }

  /** Whether the loaded object was read to its end. */
  get atEnd(): boolean {
    return this.position === this.length;
  }

  /** A new, empty set of hashed leaves for the append starting at `start` with these event ids. */
  static leavesFor(start: number, eventIds: readonly string[]): HashedLeaves {
    return issue(start, eventIds);
  }

  /**
   * Reads the next `count` lines as leaves `leaves.start + offset`, … of the append, writing their hashes into
   * `leaves`; false if any line is not the archiver's line for its leaf or a record does not hash to its
   * stored leaf hash.
   */
  readLeaves(leaves: HashedLeaves, offset: number, count: number): boolean {
    if (count === 0) return true;
    // The memory is shared: if another caller wrote into it since, the object is copied in again.
    if (!holdsKernelMemory(this)) this.copyIn();
    // The ids, each followed by a quote: joined, then the last quote written after them (appending it to the
    // joined string would make a string `write` has to flatten, a copy per call).
    const ids = leaves.eventIds.slice(offset, offset + count).join('"');
    const head = `{"appendStart":${leaves.start},"eventId":"`;
    const objectEnd = FREE_AT + this.length;
    // Scratch after the object: tail, head and ids (UTF-8 takes at most 3 bytes per char), then the tables.
    const tailAt = objectEnd;
    const headAt = tailAt + this.tail.length;
    const idsAt = headAt + head.length;
    const outAt = align(idsAt + 3 * ids.length + 1);
    const storedAt = outAt + 16 * count;
    const computedAt = storedAt + HASH_BYTES * count;
    const memory = kernelMemory(computedAt + HASH_BYTES * count, this) as RawBuffer;
    this.tail.copy(memory, tailAt);
    memory.latin1Write(head, headAt, head.length);
    let idsEnd = idsAt + memory.write(ids, idsAt, 'utf8');
    memory[idsEnd++] = QUOTE;
    const next = checkLines(
      FREE_AT + this.position,
      objectEnd,
      count,
      leaves.start + offset,
      headAt,
      head.length,
      tailAt,
      this.tail.length,
      idsAt,
      idsEnd,
      outAt,
      storedAt,
    );
    if (next < 0) return false;
    const out = new Uint32Array(memory.buffer, outAt, 4 * count);
    let digests = '';
    for (let i = 0; i < count; i++) {
      // A plain view, not a Buffer: about ten times cheaper to make, and hashed faster.
      const input = new Uint8Array(memory.buffer, out[4 * i]!, out[4 * i + 1]! - out[4 * i]!);
      digests += latin1Digest('sha256', input, 'latin1');
      leaves.idHashes[2 * (offset + i)] = out[4 * i + 2]!;
      leaves.idHashes[2 * (offset + i) + 1] = out[4 * i + 3]!;
    }
    // The digests, one char per byte, written in one call (cheaper than a write per digest).
    memory.latin1Write(digests, computedAt, HASH_BYTES * count);
    if (firstDifferentHash(computedAt, storedAt, count) !== count) return false;
    leaves.hashes.set(memory.subarray(computedAt, computedAt + HASH_BYTES * count), HASH_BYTES * offset);
    this.position = next - FREE_AT;
    return true;
  }

  /** Puts the loaded object back at `FREE_AT` (the bytes are copied; a gzip member is inflated again). */
  private copyIn(): void {
    if ('bytes' in this.object) {
      kernelMemory(FREE_AT + this.length, this).set(this.object.bytes, FREE_AT);
    } else if (inflateIntoMemory(this.object.gzip, this)?.length !== this.length) {
      throw new Error('an events object inflated once no longer inflates the same');
    }
  }
}

/** One engine for the process: calls are synchronous, and each inflates a whole member. */
const inflater = new GzipMemberInflater();

/** Inflates a gzip member at `FREE_AT` in the kernel memory, held by `caller`; see `GzipMemberInflater.into`. */
const inflateIntoMemory = (body: Uint8Array, caller: object) =>
  inflater.into(body, (size) => kernelMemory(FREE_AT + size, caller).subarray(FREE_AT, FREE_AT + size));

const align = (offset: number) => Math.ceil(offset / 16) * 16;
