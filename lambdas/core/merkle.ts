import { createHash, hash as oneShotHash } from 'node:crypto';

/**
 * RFC 6962 / RFC 9162 Merkle tree hashing, the compact range ("frontier") that lets an append run without
 * the tree's history, and inclusion proofs (RFC 9162 §2.1.3).
 *
 * Tree sizes and indices are plain numbers: they stay exact up to 2^53, so arithmetic uses division, never
 * 32-bit bit operators.
 */
export type Hash = Uint8Array;

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

const sha256 = (...parts: Uint8Array[]): Hash => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
};

/** MTH of the empty tree: SHA-256 of the empty string (RFC 6962 §2.1). */
export const EMPTY_ROOT: Hash = sha256();

/** Leaf hash = SHA-256(0x00 || leaf). */
export const leafHash = (leaf: Uint8Array): Hash => sha256(LEAF_PREFIX, leaf);

/** `hash` with a latin1 digest: Node takes any Buffer encoding there; its types list only hex and base64. */
const latin1Digest = (algorithm: string, data: Uint8Array): string =>
  (oneShotHash as unknown as (algorithm: string, data: Uint8Array, encoding: 'latin1') => string)(
    algorithm,
    data,
    'latin1',
  );

const HASH_BYTES = 32;

/** Scratch input of one interior node: 0x01 || left || right. Node hashing is synchronous, so one suffices. */
const nodeInput = Buffer.alloc(65);
nodeInput[0] = NODE_PREFIX[0]!;

/**
 * Interior node hash = SHA-256(0x01 || left || right). One-shot hashing of a reused buffer: verifying a
 * trail hashes about one interior node per leaf, so this is on the verifier's hot path. The digest comes
 * back as a latin1 string (one char per byte) and is copied into a pooled Buffer: in Node that is about
 * twice as fast as asking `hash` for a Buffer, which allocates a new backing store per call.
 */
export const nodeHash = (left: Hash, right: Hash): Hash => {
  if (left.length !== 32 || right.length !== 32) return sha256(NODE_PREFIX, left, right);
  nodeInput.set(left, 1);
  nodeInput.set(right, 33);
  return Buffer.from(latin1Digest('sha256', nodeInput), 'latin1');
};

/** Buffer methods `write` and `toString` call after resolving their encoding argument (Node has had them since 0.x). */
type RawBuffer = Buffer & {
  hexWrite(text: string, offset: number, length: number): number;
  latin1Write(text: string, offset: number, length: number): number;
};

/**
 * `CompactRange.appendPacked`'s scratch stack: a frontier has at most 53 hashes (sizes below 2^53), plus one
 * leaf. Slot k is at 32 + 32k, so the byte before slot k (the last byte of slot k - 1, or of the leading
 * bytes) can be set to 0x01 for a moment to make slots k and k + 1 one node input, `0x01 || left || right`,
 * in place: a merge copies nothing and allocates nothing (the views over each pair are made once, here).
 * Slots are 4-byte aligned, so a leaf hash is copied in as 8 words.
 */
class MergeStack {
  static readonly SLOTS = 64;
  readonly bytes = Buffer.alloc(HASH_BYTES + MergeStack.SLOTS * HASH_BYTES) as RawBuffer;
  readonly words = new Uint32Array(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length / 4);
  private readonly pairs = Array.from({ length: MergeStack.SLOTS - 1 }, (_, k) =>
    this.bytes.subarray(this.slot(k) - 1, this.slot(k + 2)),
  );

  slot(k: number): number {
    return HASH_BYTES + HASH_BYTES * k;
  }

  /** Slot k becomes the node over slots k and k + 1. */
  merge(k: number): void {
    const prefix = this.slot(k) - 1;
    const saved = this.bytes[prefix]!;
    this.bytes[prefix] = NODE_PREFIX[0]!;
    const node = latin1Digest('sha256', this.pairs[k]!);
    this.bytes[prefix] = saved;
    this.bytes.latin1Write(node, this.slot(k), HASH_BYTES);
  }
}

const mergeStack = new MergeStack();

/** Scratch input of one leaf: 0x00 || leaf, grown to the largest leaf hashed so far. */
let leafInput = Buffer.alloc(4096);
/** Views of `leafInput` by leaf length: records of a trail come in a limited number of lengths. */
let leafViews = new Map<number, Buffer>();
const MAX_LEAF_VIEWS = 4096;

/**
 * Leaf hash = SHA-256(0x00 || leaf), as lowercase hex: how stored leaf hashes are written, so a verifier
 * compares strings. The prefix is written into a reused buffer with a copy of the leaf (about a microsecond
 * less per leaf than a hash object fed two parts), hashed through a view of the leaf's length made once.
 */
export function leafHashHex(leaf: Uint8Array): string {
  if (leafInput.length <= leaf.length) {
    leafInput = Buffer.alloc(2 * (leaf.length + 1));
    leafViews = new Map();
  }
  leafInput[0] = LEAF_PREFIX[0]!;
  leafInput.set(leaf, 1);
  let view = leafViews.get(leaf.length);
  if (view === undefined) {
    if (leafViews.size >= MAX_LEAF_VIEWS) leafViews.clear();
    view = leafInput.subarray(0, leaf.length + 1);
    leafViews.set(leaf.length, view);
  }
  return oneShotHash('sha256', view, 'hex');
}

/** Bytes as lowercase hex, read in place (no copy). */
export const toHex = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
export const fromHex = (hex: string): Hash => new Uint8Array(Buffer.from(hex, 'hex'));
export const toBase64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
/** Whether two byte arrays hold the same bytes (compared in place, no copies). */
export const equalBytes = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
export const equalHashes = equalBytes;
/** UTF-8 bytes as text, decoded in place. */
export const utf8Text = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');

/** Sizes of the perfect subtrees that make up a tree of `size` leaves, left to right (binary decomposition). */
export function frontierSizes(size: number): number[] {
  const sizes: number[] = [];
  let rest = size;
  for (let bit = 2 ** Math.floor(Math.log2(Math.max(size, 1))); bit >= 1; bit /= 2) {
    if (rest >= bit) {
      sizes.push(bit);
      rest -= bit;
    }
  }
  return sizes;
}

/** Number of perfect subtrees in the frontier of a tree of `size` leaves (popcount). */
export const frontierLength = (size: number) => frontierSizes(size).length;

/**
 * A compact range over [0, size): the roots of its perfect subtrees, left to right. Appending a leaf merges
 * equal-sized subtrees like a binary counter carries, so an append costs O(log n) and needs no history.
 */
export class CompactRange {
  private constructor(
    private currentSize: number,
    private readonly hashes: Hash[],
  ) {}

  /** The root, when an append in the scratch stack folded it there (cleared by anything that changes the range). */
  private foldedRoot: Hash | undefined;

  static empty(): CompactRange {
    return new CompactRange(0, []);
  }

  /** Rebuilds a range from stored hashes; rejects a frontier whose shape does not fit the size. */
  static from(size: number, hashes: readonly Hash[]): CompactRange {
    if (!Number.isSafeInteger(size) || size < 0)
      throw new RangeError(`tree size ${size} is not a whole number`);
    if (hashes.length !== frontierLength(size)) {
      throw new RangeError(
        `a tree of ${size} leaves has ${frontierLength(size)} frontier hashes, got ${hashes.length}`,
      );
    }
    return new CompactRange(size, [...hashes]);
  }

  get size(): number {
    return this.currentSize;
  }

  get frontier(): readonly Hash[] {
    return this.hashes;
  }

  append(leaf: Hash): void {
    this.foldedRoot = undefined;
    this.hashes.push(leaf);
    // Each trailing one bit of the old size is a pair of equal subtrees to merge.
    for (let carry = this.currentSize; carry % 2 === 1; carry = (carry - 1) / 2) {
      const right = this.hashes.pop()!;
      const left = this.hashes.pop()!;
      this.hashes.push(nodeHash(left, right));
    }
    this.currentSize += 1;
  }

  /** Appends leaves given as hex (how verifiers hold them), through `appendPacked`. */
  appendHex(leaves: readonly string[]): void {
    const packed = Buffer.alloc(leaves.length * HASH_BYTES) as RawBuffer;
    leaves.forEach((hex, i) => {
      if (hex.length !== 2 * HASH_BYTES || packed.hexWrite(hex, i * HASH_BYTES, HASH_BYTES) !== HASH_BYTES)
        throw new RangeError(`leaf hash ${JSON.stringify(hex)} is not 32 bytes of hex`);
    });
    this.appendPacked(packed);
  }

  /**
   * Appends leaves given as consecutive 32-byte hashes in one array, exactly as `append` would one by one.
   * The merges run in a scratch stack (leaves copied in, digests written back in place), so nothing is
   * allocated per leaf or node: only the frontier and the root are copied out at the end. A verifier appends
   * every leaf of a trail; this is several times cheaper per leaf than `append`.
   */
  appendPacked(leaves: Uint8Array): void {
    if (leaves.length % HASH_BYTES !== 0)
      throw new RangeError(`${leaves.length} bytes are not a whole number of 32-byte leaf hashes`);
    // Read as words (8 per hash), from an aligned copy if need be.
    const aligned = leaves.byteOffset % 4 === 0 ? leaves : leaves.slice();
    const words = new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.length / 4);
    const stack = mergeStack;
    let top = 0;
    for (const hash of this.hashes) stack.bytes.set(hash, stack.slot(top++));
    let size = this.currentSize;
    for (let i = 0; i < words.length / 8; i++) {
      for (let k = 0, to = stack.slot(top) / 4; k < 8; k++) stack.words[to + k] = words[8 * i + k]!;
      top += 1;
      // As in `append`: each trailing one bit of the old size merges the top two hashes.
      for (let carry = size; carry % 2 === 1; carry = (carry - 1) / 2) {
        top -= 1;
        stack.merge(top - 1);
      }
      size += 1;
    }
    this.hashes.length = 0;
    for (let k = 0; k < top; k++)
      this.hashes.push(Uint8Array.from(stack.bytes.subarray(stack.slot(k), stack.slot(k + 1))));
    this.currentSize = size;
    // The root, folded from the right where the frontier lies: each merge writes over its left slot.
    for (let k = top - 2; k >= 0; k--) stack.merge(k);
    this.foldedRoot =
      top === 0 ? undefined : Uint8Array.from(stack.bytes.subarray(stack.slot(0), stack.slot(1)));
  }

  /** MTH over the whole range: fold the frontier from the right (RFC 6962 §2.1). */
  root(): Hash {
    if (this.foldedRoot) return this.foldedRoot;
    if (this.hashes.length === 0) return EMPTY_ROOT;
    let root = this.hashes[this.hashes.length - 1]!;
    for (let i = this.hashes.length - 2; i >= 0; i--) root = nodeHash(this.hashes[i]!, root);
    return root;
  }

  clone(): CompactRange {
    return new CompactRange(this.currentSize, [...this.hashes]);
  }
}

/** Largest power of two strictly less than n (n > 1), the split point of RFC 6962 §2.1. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * Subtree hashes of a tree whose prefix [0, start) is known only by its frontier and whose leaves
 * [start, end) are known. That is all an appender has, and it is enough for every inclusion proof of the
 * new leaves: each sibling left of `start` on their paths is a whole frontier subtree.
 */
export class PartialTree {
  private readonly known = new Map<string, Hash>();

  constructor(
    readonly start: number,
    previousFrontier: readonly Hash[],
    private readonly leaves: readonly Hash[],
  ) {
    let offset = 0;
    const sizes = frontierSizes(start);
    if (sizes.length !== previousFrontier.length) {
      throw new RangeError(
        `frontier of ${start} leaves needs ${sizes.length} hashes, got ${previousFrontier.length}`,
      );
    }
    sizes.forEach((size, i) => {
      this.known.set(`${offset}:${offset + size}`, previousFrontier[i]!);
      offset += size;
    });
  }

  get end(): number {
    return this.start + this.leaves.length;
  }

  /** MTH of leaves [from, to). */
  hash(from: number, to: number): Hash {
    const key = `${from}:${to}`;
    const cached = this.known.get(key);
    if (cached) return cached;
    let result: Hash;
    if (to - from === 1 && from >= this.start) {
      result = this.leaves[from - this.start]!;
    } else if (to - from <= 1) {
      throw new RangeError(`subtree [${from}, ${to}) is not recoverable from the frontier`);
    } else {
      const k = splitPoint(to - from);
      result = nodeHash(this.hash(from, from + k), this.hash(from + k, to));
    }
    this.known.set(key, result);
    return result;
  }

  root(): Hash {
    return this.end === 0 ? EMPTY_ROOT : this.hash(0, this.end);
  }

  /** RFC 9162 §2.1.3.1 PATH(m, D[0:end]) for a leaf appended in this batch. */
  inclusionProof(index: number): Hash[] {
    if (index < this.start || index >= this.end) {
      throw new RangeError(`leaf ${index} is not in [${this.start}, ${this.end})`);
    }
    return inclusionPath(index, 0, this.end, (from, to) => this.hash(from, to));
  }
}

/** PATH(m, D[from:to]) of RFC 9162 §2.1.3.1, given a subtree hash function. */
export function inclusionPath(
  index: number,
  from: number,
  to: number,
  hash: (from: number, to: number) => Hash,
): Hash[] {
  const path: Hash[] = [];
  // Walk down from the root, collecting siblings; the RFC lists them leaf-first, so reverse at the end.
  let lo = from;
  let hi = to;
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (index < lo + k) {
      path.push(hash(lo + k, hi));
      hi = lo + k;
    } else {
      path.push(hash(lo, lo + k));
      lo += k;
    }
  }
  return path.reverse();
}

/** Inclusion proof for leaf `index` in the tree over all of `leaves` (used by tests and exports). */
export function inclusionProofFromLeaves(
  leaves: readonly Hash[],
  index: number,
  size = leaves.length,
): Hash[] {
  if (index < 0 || index >= size || size > leaves.length)
    throw new RangeError(`leaf ${index} not in tree of ${size}`);
  return new PartialTree(0, [], leaves.slice(0, size)).inclusionProof(index);
}

/** Root computed from a leaf and its audit path (RFC 9162 §2.1.3.2); undefined if the path cannot fit. */
export function rootFromInclusionProof(
  leaf: Hash,
  index: number,
  size: number,
  proof: readonly Hash[],
): Hash | undefined {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size)
    return undefined;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : undefined;
}

/** True if `proof` shows `leaf` at `index` in the tree of `size` leaves with root `root`. */
export function verifyInclusion(
  leaf: Hash,
  index: number,
  size: number,
  proof: readonly Hash[],
  root: Hash,
): boolean {
  const computed = rootFromInclusionProof(leaf, index, size, proof);
  return computed !== undefined && equalHashes(computed, root);
}
