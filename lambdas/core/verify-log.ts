import { z } from 'zod';
import { canonicalBytes } from './canonical.ts';
import { type Checkpoint, parseCheckpointBody, SignedCheckpoint } from './checkpoint.ts';
import { topLevelIdValue } from './json-scan.ts';
import { HashedLeaves } from './line-kernel.ts';
import {
  CompactRange,
  equalHashes,
  fromHex,
  type Hash,
  leafHash,
  leafHashHex,
  toHex,
  utf8Text,
} from './merkle.ts';
import { verifyReceipt } from './receipt.ts';
import { type PublicKeyInfo, verifyCheckpointSignature } from './signer.ts';
import { tenantOfOrigin } from './tenancy.ts';
import { AppendJson, LeafJson } from './wire.ts';

/**
 * Streaming verification of one log, append by append, as served by `GET /v1/logs/{origin}/appends` (and
 * stored in the archive). It holds only the running compact range, the last verified checkpoint and counters,
 * so memory is O(log n) besides the append being checked. Every check that can pin a failure to one leaf
 * runs before the checks that cannot (root, signature), so the first failure reported is the most precise.
 */

/** What failed. Stable names: scripts and alerts branch on them. */
export type VerifyCheck =
  | 'format'
  | 'origin'
  | 'gap'
  | 'previous-checkpoint'
  | 'frontier'
  | 'missing-leaf'
  | 'leaf-order'
  | 'extra-leaf'
  | 'event-id'
  | 'record'
  | 'leaf-hash'
  | 'receipt'
  | 'checkpoint-format'
  | 'root'
  | 'signature'
  | 'unknown-key'
  | 'truncated'
  | 'fork'
  | 'orphan';

/** The first thing that does not hold, named as precisely as the evidence allows. */
export interface VerifyFailure {
  readonly origin: string;
  readonly check: VerifyCheck;
  readonly message: string;
  readonly leafIndex?: number;
  readonly eventId?: string;
  /** Start of the append the failure was found in. */
  readonly appendStart?: number;
}

/**
 * A leaf given as the record's exact stored bytes (an archive's events line, `ArchivedLine`, is one): the
 * leaf is these bytes, so they are hashed as they are, never decoded, parsed or re-canonicalized. Other
 * fields of the object are ignored. `LeafJson` (a parsed record) is what the API serves.
 */
export interface BytesLeaf {
  readonly leafIndex: number;
  readonly eventId: string;
  /** The stored leaf hash (hex); compared with the hash of `recordBytes`. */
  readonly leafHash?: string;
  /** The record's canonical JSON, UTF-8, as stored: the leaf. */
  readonly recordBytes: Uint8Array;
}

/** What `LogVerifier.push` takes: an append with its leaves, each a parsed record or the record's bytes. */
export type VerifiableAppend = AppendJson & { readonly leaves: readonly (LeafJson | BytesLeaf)[] };
/** It also takes an append whose leaves the archive reader already checked and hashed (line-kernel.ts). */
export type HashedAppend = AppendJson & { readonly leaves: HashedLeaves };
type AnyLeaf = LeafJson | BytesLeaf;

/**
 * An append and its leaves: an array (each leaf read by `readLeaf`) or `HashedLeaves`. The event ids are
 * checked in one pass rather than one zod check per id: a verifier reads every append of a trail, and zod's
 * per-element results were most of the memory it allocated per append.
 */
const AppendFields = AppendJson.extend({
  eventIds: z.custom<string[]>(
    (ids) => Array.isArray(ids) && ids.every((id) => typeof id === 'string'),
    'expected an array of strings',
  ),
  leaves: z.custom<readonly unknown[] | HashedLeaves>(
    (leaves) => Array.isArray(leaves) || leaves instanceof HashedLeaves,
  ),
});

/**
 * A leaf's fields, read once and checked by hand for byte leaves (hundreds of thousands per archive; zod would
 * cost more than hashing them), or undefined if it does not have a leaf's shape. Read once because an archive
 * line's fields are getters that build a string or a view per read. A byte leaf's `leafHash` only has to be
 * a string: anything but the right lowercase hex fails the leaf-hash comparison, which names the leaf.
 */
function readLeaf(leaf: unknown): AnyLeaf | undefined {
  if (typeof leaf !== 'object' || leaf === null) return undefined;
  if (!('recordBytes' in leaf)) return LeafJson.safeParse(leaf).success ? (leaf as LeafJson) : undefined;
  const { leafIndex, eventId, leafHash, recordBytes } = leaf as Record<keyof BytesLeaf, unknown>;
  const valid =
    recordBytes instanceof Uint8Array &&
    typeof eventId === 'string' &&
    typeof leafIndex === 'number' &&
    Number.isSafeInteger(leafIndex) &&
    leafIndex >= 0 &&
    (leafHash === undefined || typeof leafHash === 'string');
  if (!valid) return undefined;
  // A plain object already holds its fields as read; anything else (a view with getters) is copied once.
  if (Object.getPrototypeOf(leaf) === Object.prototype) return leaf as BytesLeaf;
  return leafHash === undefined
    ? { leafIndex, eventId, recordBytes }
    : { leafIndex, eventId, leafHash, recordBytes };
}

/** The append's leaves read once each, or undefined if the append or any leaf is not in the expected shape. */
function readAppend(
  input: unknown,
): { append: VerifiableAppend | HashedAppend; leaves: AnyLeaf[] | HashedLeaves } | undefined {
  if (!AppendFields.safeParse(input).success) return undefined;
  const append = input as VerifiableAppend | HashedAppend;
  if (append.leaves instanceof HashedLeaves) return { append, leaves: append.leaves };
  const leaves: AnyLeaf[] = [];
  for (const leaf of append.leaves) {
    const read = readLeaf(leaf);
    if (read === undefined) return undefined;
    leaves.push(read);
  }
  return { append, leaves };
}

/** An append that verified completely: its leaves as they were served, and their hashes (hex). */
export interface VerifiedAppend {
  readonly origin: string;
  /** The tenant the append says it belongs to (an event id is unique within a tenant). */
  readonly tenant: string;
  readonly start: number;
  readonly eventIds: readonly string[];
  /**
   * The leaf objects pushed (an archive's lines themselves), in leaf order; none when the append was pushed
   * with `HashedLeaves` (then `leafHashes` are all there is).
   */
  readonly leaves: readonly unknown[];
  readonly leafHashes: readonly string[];
}

/** A leaf whose append verified completely. */
export interface VerifiedLeaf {
  readonly origin: string;
  readonly leafIndex: number;
  readonly eventId: string;
  readonly leafHash: Hash;
  /** The leaf's bytes, when it was given as bytes (lets callers compare other copies without hashing). */
  readonly recordBytes?: Uint8Array;
}

export interface LogVerifierOptions {
  readonly origin: string;
  /** Every public key that may have signed (by keyId); the API and the archive serve all keys ever used. */
  readonly keys: ReadonlyMap<string, PublicKeyInfo>;
  /**
   * Checkpoints of this log seen elsewhere (archive, a witness, an earlier run). Each must be a checkpoint
   * this log passes through; one beyond the verified head means the log was truncated or rolled back.
   * Checkpoints of other origins are ignored.
   */
  readonly knownCheckpoints?: readonly SignedCheckpoint[];
  /** A receipt held for an event, if any; it is checked against the leaf and its append's checkpoint. */
  readonly receiptFor?: (eventId: string) => unknown;
  /** Called for each append once it verified completely (lets callers index verified positions). */
  readonly onAppend?: (append: VerifiedAppend) => void;
  /**
   * Start from a state verified earlier instead of the empty log (the integrity monitor re-verifies recent
   * ranges): the checkpoint's signature is checked and the frontier must fold to its root.
   */
  readonly trustedStart?: { readonly checkpoint: SignedCheckpoint; readonly frontier: readonly string[] };
}

export interface LogVerifierState {
  readonly origin: string;
  readonly size: number;
  readonly checkpoint: SignedCheckpoint | null;
  readonly frontier: readonly string[];
  readonly appends: number;
  readonly leaves: number;
  readonly signatures: number;
  readonly failure?: VerifyFailure;
}

export interface FinishOptions {
  /** A size the log is known to have reached (e.g. the head the API advertised before paging began). */
  readonly expectedMinimumSize?: number;
  /** More known checkpoints; those older than the head can only be checked if given to the constructor. */
  readonly knownCheckpoints?: readonly SignedCheckpoint[];
}

export interface LogVerification extends LogVerifierState {
  /** Known checkpoints given only to `finish` that are older than the head, so could not be compared. */
  readonly unchecked: number;
}

interface KnownCheckpoint extends Checkpoint {
  readonly signed: SignedCheckpoint;
}

const sameCheckpoint = (a: SignedCheckpoint | null, b: SignedCheckpoint | null) =>
  a === b ||
  (a !== null &&
    b !== null &&
    a.body === b.body &&
    a.keyId === b.keyId &&
    a.algorithm === b.algorithm &&
    a.signature === b.signature);

const sameFrontier = (hex: readonly string[], range: CompactRange) =>
  hex.length === range.frontier.length && hex.every((hash, i) => hash === toHex(range.frontier[i]!));

const sameStrings = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((value, i) => value === b[i]);

export class LogVerifier {
  readonly origin: string;
  /** The tenant the origin names (`<deploymentOrigin>/<tenant>/<shard>`); each append must say the same. */
  private readonly tenant: string | undefined;
  private range = CompactRange.empty();
  /** The verified frontier as hex, once an append's stored frontier matched it (saves re-encoding it). */
  private frontierHex: readonly string[] = [];
  private checkpoint: SignedCheckpoint | null = null;
  private pending: KnownCheckpoint[] = [];
  private failure: VerifyFailure | undefined;
  private appends = 0;
  private leaves = 0;
  private signatures = 0;

  constructor(private readonly options: LogVerifierOptions) {
    this.origin = options.origin;
    this.tenant = tenantOfOrigin(options.origin);
    if (options.trustedStart) this.failure = this.startFrom(options.trustedStart);
    if (!this.failure) this.failure = this.takeKnown(options.knownCheckpoints ?? []);
  }

  get size(): number {
    return this.range.size;
  }

  get state(): LogVerifierState {
    return {
      origin: this.origin,
      size: this.range.size,
      checkpoint: this.checkpoint,
      frontier: this.range.frontier.map(toHex),
      appends: this.appends,
      leaves: this.leaves,
      signatures: this.signatures,
      ...(this.failure ? { failure: this.failure } : {}),
    };
  }

  /**
   * Verifies the next append of the log (`AppendWithLeavesJson`, or `VerifiableAppend` whose leaves may carry
   * the record's text instead of the record). Returns the failure, if any; once a
   * failure is found it is kept and later appends are not looked at, since nothing after it can be trusted.
   */
  push(input: unknown): VerifyFailure | undefined {
    if (this.failure) return this.failure;
    const failure = this.verifyAppend(input);
    if (failure) this.failure = failure;
    return failure;
  }

  /**
   * Truncation and rollback: a known checkpoint beyond the verified head, or a known size never reached.
   * Does not end the stream: more appends may be pushed afterwards (a log that grew meanwhile).
   */
  finish(options: FinishOptions = {}): LogVerification {
    const result = (failure: VerifyFailure | undefined, unchecked = 0): LogVerification => ({
      ...this.state,
      ...(failure ? { failure } : {}),
      unchecked,
    });
    if (this.failure) return result(this.failure);
    const extra = this.admitKnown(options.knownCheckpoints ?? []);
    if ('failure' in extra) return result(extra.failure);
    const head = this.range.size;
    const unchecked = extra.checkpoints.filter((c) => c.size < head).length;
    const beyond = [...this.pending, ...extra.checkpoints.filter((c) => c.size >= head)].sort(
      (a, b) => a.size - b.size,
    );
    for (const known of beyond) {
      const failure =
        known.size === head ? this.compareWithHead(known) : this.truncated(known.size, known.signed);
      if (failure) return result(failure, unchecked);
    }
    if (options.expectedMinimumSize !== undefined && options.expectedMinimumSize > head) {
      return result(this.truncated(options.expectedMinimumSize), unchecked);
    }
    return result(undefined, unchecked);
  }

  private startFrom(start: NonNullable<LogVerifierOptions['trustedStart']>): VerifyFailure | undefined {
    const checked = this.checkSignedCheckpoint(start.checkpoint, 'trusted start');
    if ('failure' in checked) return checked.failure;
    let range: CompactRange;
    try {
      range = CompactRange.from(checked.checkpoint.size, start.frontier.map(fromHex));
    } catch (error) {
      return this.fail(
        'frontier',
        `trusted start frontier does not fit size ${checked.checkpoint.size}: ${String(error)}`,
      );
    }
    if (!equalHashes(range.root(), checked.checkpoint.rootHash)) {
      return this.fail('frontier', 'trusted start frontier does not fold to its checkpoint root');
    }
    this.range = range;
    this.frontierHex = range.frontier.map(toHex);
    this.checkpoint = start.checkpoint;
    return undefined;
  }

  /** Parses and signature-checks known checkpoints of this origin (a forged one proves nothing either way). */
  private admitKnown(
    list: readonly SignedCheckpoint[],
  ): { checkpoints: KnownCheckpoint[] } | { failure: VerifyFailure } {
    const checkpoints: KnownCheckpoint[] = [];
    const seen = new Set<string>();
    for (const signed of list) {
      let parsed: Checkpoint;
      try {
        parsed = parseCheckpointBody(signed.body);
      } catch (error) {
        return {
          failure: this.fail(
            'checkpoint-format',
            `a known checkpoint is malformed: ${(error as Error).message}`,
          ),
        };
      }
      if (parsed.origin !== this.origin || seen.has(signed.body)) continue;
      seen.add(signed.body);
      const checked = this.checkSignedCheckpoint(signed, `known checkpoint of size ${parsed.size}`);
      if ('failure' in checked) return checked;
      checkpoints.push({ ...parsed, signed });
    }
    return { checkpoints: checkpoints.sort((a, b) => a.size - b.size) };
  }

  private checkSignedCheckpoint(
    signed: SignedCheckpoint,
    what: string,
  ): { checkpoint: Checkpoint } | { failure: VerifyFailure } {
    if (!SignedCheckpoint.safeParse(signed).success) {
      return { failure: this.fail('checkpoint-format', `${what} is not a signed checkpoint`) };
    }
    let checkpoint: Checkpoint;
    try {
      checkpoint = parseCheckpointBody(signed.body);
    } catch (error) {
      return { failure: this.fail('checkpoint-format', `${what}: ${(error as Error).message}`) };
    }
    if (checkpoint.origin !== this.origin) {
      return { failure: this.fail('checkpoint-format', `${what} names log ${checkpoint.origin}`) };
    }
    const signature = this.verifySignature(signed, what);
    return signature ? { failure: signature } : { checkpoint };
  }

  private verifySignature(
    signed: SignedCheckpoint,
    what: string,
    at: Partial<VerifyFailure> = {},
  ): VerifyFailure | undefined {
    this.signatures += 1;
    const result = verifyCheckpointSignature(signed, this.options.keys);
    if (result.ok) return undefined;
    const check = this.options.keys.has(signed.keyId) ? 'signature' : 'unknown-key';
    return this.fail(check, `${what}: ${result.reason}`, at);
  }

  /** Known checkpoints at the starting head are compared now; older ones (before a trusted start) cannot be. */
  private takeKnown(list: readonly SignedCheckpoint[]): VerifyFailure | undefined {
    const known = this.admitKnown(list);
    if ('failure' in known) return known.failure;
    for (const checkpoint of known.checkpoints.filter((c) => c.size === this.range.size)) {
      const failure = this.compareWithHead(checkpoint);
      if (failure) return failure;
    }
    this.pending = known.checkpoints.filter((c) => c.size > this.range.size);
    return undefined;
  }

  private compareWithHead(known: KnownCheckpoint): VerifyFailure | undefined {
    if (equalHashes(known.rootHash, this.range.root())) return undefined;
    return this.fail(
      'fork',
      `a known checkpoint of size ${known.size} has root ${toHex(known.rootHash)}, the verified log has ${toHex(this.range.root())} at that size: the log was rewritten (fork)`,
    );
  }

  private truncated(size: number, signed?: SignedCheckpoint): VerifyFailure {
    const head = this.range.size;
    const evidence = signed
      ? `a checkpoint of size ${size} signed by ${signed.keyId} was seen`
      : `the log was known to reach size ${size}`;
    return this.fail(
      'truncated',
      `the log ends at size ${head} but ${evidence}: leaves [${head}, ${size}) are missing (truncated or rolled back)`,
      { leafIndex: head },
    );
  }

  /** Checks known checkpoints the log has now passed: sizes skipped are forks, equal sizes must match. */
  private settleKnown(previousSize: number, append: number): VerifyFailure | undefined {
    while (this.pending[0] && this.pending[0].size <= this.range.size) {
      const known = this.pending.shift()!;
      if (known.size === this.range.size) {
        const failure = this.compareWithHead(known);
        if (failure) return { ...failure, appendStart: append };
      } else {
        // Pending sizes all exceed the size before this append, so this one fell inside it.
        return this.fail(
          'fork',
          `a known checkpoint of size ${known.size} is not one this log signed: its appends go from ${previousSize} to ${this.range.size}`,
          { appendStart: append },
        );
      }
    }
    return undefined;
  }

  private fail(
    check: VerifyCheck,
    message: string,
    at: Partial<Omit<VerifyFailure, 'check' | 'message'>> = {},
  ): VerifyFailure {
    return { origin: this.origin, check, message, ...at };
  }

  private verifyAppend(input: unknown): VerifyFailure | undefined {
    const read = readAppend(input);
    if (!read) {
      const start = (input as { start?: unknown } | null)?.start;
      return this.fail(
        'format',
        'append is not in the expected JSON shape',
        typeof start === 'number' ? { appendStart: start } : {},
      );
    }
    // Checks use the input itself, not zod's copy, so a record is hashed exactly as it was served.
    const { append } = read;
    const at = { appendStart: append.start };
    const structural = this.checkPosition(append);
    if (structural) return structural;
    const leaves =
      read.leaves instanceof HashedLeaves
        ? this.checkHashedLeaves(append, read.leaves)
        : this.checkLeaves(append, read.leaves);
    if ('failure' in leaves) return leaves.failure;
    const next = this.range.clone();
    if ('packed' in leaves) next.appendPacked(leaves.packed);
    else next.appendHex(leaves.hashes);
    const sealed = this.checkCheckpoint(append, next);
    if (sealed) return sealed;
    if (!sameFrontier(append.frontier, next)) {
      return this.fail(
        'frontier',
        `stored frontier after append ${append.start} is not the recomputed one`,
        at,
      );
    }
    const previousSize = this.range.size;
    this.range = next;
    this.frontierHex = append.frontier;
    this.checkpoint = append.checkpoint;
    this.appends += 1;
    this.leaves += append.eventIds.length;
    if (this.options.onAppend) {
      const hashed = 'packed' in leaves;
      this.options.onAppend({
        origin: this.origin,
        tenant: append.tenant,
        start: append.start,
        eventIds: append.eventIds,
        leaves: hashed ? [] : (append.leaves as readonly unknown[]),
        leafHashes: hashed ? leaves.hex() : leaves.hashes,
      });
    }
    return this.settleKnown(previousSize, append.start);
  }

  /** The append sits exactly at the head and extends the last verified checkpoint and frontier. */
  private checkPosition(append: AppendJson): VerifyFailure | undefined {
    const size = this.range.size;
    const at = { appendStart: append.start };
    if (append.origin !== this.origin)
      return this.fail('origin', `append ${append.start} belongs to log ${append.origin}`, at);
    // The append's tenant is not signed, but the origin every checkpoint signs names it: event ids are
    // unique per tenant, so a relabelled tenant could otherwise hide an id recorded twice.
    if (append.tenant !== this.tenant) {
      return this.fail(
        'origin',
        `append ${append.start} says tenant ${append.tenant}, but log ${this.origin} is ${this.tenant === undefined ? 'not a tenant log' : `tenant ${this.tenant}'s`}`,
        at,
      );
    }
    if (append.start > size) {
      return this.fail(
        'gap',
        `leaves [${size}, ${append.start}) are missing: the next append starts at ${append.start}`,
        {
          ...at,
          leafIndex: size,
        },
      );
    }
    if (append.start < size) {
      return this.fail(
        'gap',
        `append ${append.start} overlaps the ${size} leaves already verified (repeated or reordered)`,
        {
          ...at,
          leafIndex: append.start,
        },
      );
    }
    if (append.size <= append.start)
      return this.fail('format', `append ${append.start} claims size ${append.size}`, at);
    if (append.eventIds.length !== append.size - append.start) {
      return this.fail(
        'event-id',
        `append ${append.start} lists ${append.eventIds.length} event ids for ${append.size - append.start} leaves`,
        at,
      );
    }
    if (!sameCheckpoint(append.previous, this.checkpoint)) {
      const expected = this.checkpoint ? 'the last verified checkpoint' : 'none (the log starts here)';
      return this.fail(
        'previous-checkpoint',
        `append ${append.start} says it extends another checkpoint than ${expected}`,
        at,
      );
    }
    if (!sameStrings(append.previousFrontier, this.frontierHex)) {
      return this.fail(
        'frontier',
        `append ${append.start} extends a frontier that is not the verified one`,
        at,
      );
    }
    return undefined;
  }

  /** Leaves are exactly [start, size) in order; each record is the event named and hashes to its leaf. */
  private checkLeaves(
    append: AppendJson,
    leaves: readonly AnyLeaf[],
  ): { hashes: string[] } | { failure: VerifyFailure } {
    const hashes: string[] = [];
    // Where each leaf is, for failures (which copy it): one object updated leaf by leaf, not one per leaf.
    const at = { appendStart: append.start, leafIndex: append.start, eventId: '' };
    for (let offset = 0; offset < append.eventIds.length; offset++) {
      const leafIndex = append.start + offset;
      const eventId = append.eventIds[offset]!;
      at.leafIndex = leafIndex;
      at.eventId = eventId;
      const leaf = leaves[offset];
      if (leaf?.leafIndex !== leafIndex) {
        const elsewhere = leaves.some((other) => other.leafIndex === leafIndex);
        return elsewhere
          ? { failure: this.fail('leaf-order', `leaf ${leafIndex} is served out of order`, at) }
          : { failure: this.fail('missing-leaf', `leaf ${leafIndex} (event ${eventId}) is missing`, at) };
      }
      const checked = this.checkLeaf(leaf, eventId, at);
      if ('failure' in checked) return checked;
      const receipt = this.checkReceipt(append, leaf, checked.hex, at);
      if (receipt) return { failure: receipt };
      hashes.push(checked.hex);
    }
    const extra = leaves[append.eventIds.length];
    if (extra) {
      return {
        failure: this.fail(
          'extra-leaf',
          `append ${append.start} serves a leaf ${extra.leafIndex} beyond its size ${append.size}`,
          {
            appendStart: append.start,
            leafIndex: extra.leafIndex,
            eventId: extra.eventId,
          },
        ),
      };
    }
    return { hashes };
  }

  /**
   * Leaves the archive reader checked and hashed (line-kernel.ts): they must have been read for this very
   * append (its start and its event ids array), so each record's id is the id the append lists.
   */
  private checkHashedLeaves(
    append: AppendJson,
    leaves: HashedLeaves,
  ): { packed: Uint8Array; hex: () => string[] } | { failure: VerifyFailure } {
    if (leaves.start !== append.start || leaves.eventIds !== append.eventIds) {
      return {
        failure: this.fail('format', `leaves given for append ${append.start} were read for another append`, {
          appendStart: append.start,
        }),
      };
    }
    return { packed: leaves.hashes, hex: () => leaves.hexHashes() };
  }

  private checkLeaf(
    leaf: AnyLeaf,
    eventId: string,
    at: Partial<VerifyFailure>,
  ): { hex: string } | { failure: VerifyFailure } {
    if (leaf.eventId !== eventId) {
      return {
        failure: this.fail(
          'event-id',
          `leaf ${at.leafIndex} holds event ${leaf.eventId}, the append lists ${eventId}`,
          at,
        ),
      };
    }
    if ('recordBytes' in leaf) return this.checkBytesLeaf(leaf, eventId, at);
    if (leaf.record.id !== eventId) {
      return {
        failure: this.fail(
          'event-id',
          `leaf ${at.leafIndex} holds a record with id ${String(leaf.record.id)}`,
          at,
        ),
      };
    }
    let hex: string;
    try {
      hex = toHex(leafHash(canonicalBytes(leaf.record)));
    } catch (error) {
      return {
        failure: this.fail(
          'record',
          `record of leaf ${at.leafIndex} has no canonical form: ${(error as Error).message}`,
          at,
        ),
      };
    }
    if (leaf.leafHash !== undefined && leaf.leafHash !== hex)
      return this.changedRecord(hex, leaf.leafHash, at);
    return { hex };
  }

  /**
   * A leaf given as bytes: SHA-256(0x00 || bytes) must be the stored leaf hash, and the record's own `id` must
   * be the event's. The leaf's `eventId` (an archive line's header) was already compared with the append's id
   * by `checkLeaf`, but neither is signed, so the id is checked inside the hashed bytes too: that is what ties
   * the append's event ids to the signed leaves. `hasTopLevelId` decides it exactly by a scan of the bytes (no
   * decode, no parse); only when it does not find the member is the record parsed, to decide and to say what
   * it holds (the rare path: a failure, or bytes that are not canonical JSON).
   */
  private checkBytesLeaf(
    leaf: BytesLeaf,
    eventId: string,
    at: Partial<VerifyFailure>,
  ): { hex: string } | { failure: VerifyFailure } {
    const bytes = leaf.recordBytes;
    const hex = leafHashHex(bytes);
    if (!hasTopLevelId(bytes, eventId)) {
      const record = parseRecord(bytes);
      if (record === undefined) {
        // Bytes that are not a JSON object: a changed record if a stored hash says otherwise, else malformed.
        if (leaf.leafHash !== undefined && leaf.leafHash !== hex)
          return this.changedRecord(hex, leaf.leafHash, at);
        return { failure: this.fail('record', `record of leaf ${at.leafIndex} is not a JSON object`, at) };
      }
      if (record.id !== eventId) {
        return {
          failure: this.fail(
            'event-id',
            `leaf ${at.leafIndex} holds a record with id ${String(record.id)}`,
            at,
          ),
        };
      }
    }
    if (leaf.leafHash !== undefined && leaf.leafHash !== hex)
      return this.changedRecord(hex, leaf.leafHash, at);
    return { hex };
  }

  private changedRecord(hex: string, stored: string, at: Partial<VerifyFailure>): { failure: VerifyFailure } {
    return {
      failure: this.fail(
        'leaf-hash',
        `record of leaf ${at.leafIndex} hashes to ${hex}, its stored leaf hash is ${stored}: the record changed after it was appended`,
        at,
      ),
    };
  }

  private checkReceipt(
    append: AppendJson,
    leaf: AnyLeaf,
    hex: string,
    at: Partial<VerifyFailure>,
  ): VerifyFailure | undefined {
    const receipt = this.options.receiptFor?.(leaf.eventId);
    if (receipt === undefined) return undefined;
    const verdict = verifyReceipt(
      'recordBytes' in leaf ? utf8Text(leaf.recordBytes) : leaf.record,
      receipt,
      this.options.keys,
    );
    if (!verdict.ok)
      return this.fail(
        'receipt',
        `receipt of leaf ${at.leafIndex} fails (${verdict.check}): ${verdict.reason}`,
        at,
      );
    const held = receipt as {
      leafIndex: number;
      origin: string;
      leafHash: string;
      checkpoint: SignedCheckpoint;
    };
    if (held.origin !== this.origin || held.leafIndex !== at.leafIndex || held.leafHash !== hex) {
      return this.fail(
        'receipt',
        `receipt places event ${leaf.eventId} at ${held.origin} leaf ${held.leafIndex}`,
        at,
      );
    }
    if (held.checkpoint.body !== append.checkpoint.body) {
      return this.fail(
        'receipt',
        `receipt of leaf ${at.leafIndex} is under a checkpoint the log did not sign at append ${append.start} (fork)`,
        at,
      );
    }
    return undefined;
  }

  /** The checkpoint names this log and the new size, commits to the recomputed root, and is signed. */
  private checkCheckpoint(append: AppendJson, next: CompactRange): VerifyFailure | undefined {
    const at = { appendStart: append.start };
    let body: Checkpoint;
    try {
      body = parseCheckpointBody(append.checkpoint.body);
    } catch (error) {
      return this.fail(
        'checkpoint-format',
        `checkpoint of append ${append.start}: ${(error as Error).message}`,
        at,
      );
    }
    if (body.origin !== this.origin || body.size !== append.size) {
      return this.fail(
        'checkpoint-format',
        `checkpoint of append ${append.start} is for ${body.origin} size ${body.size}`,
        at,
      );
    }
    if (!equalHashes(body.rootHash, next.root())) {
      return this.fail(
        'root',
        `records of append ${append.start} give root ${toHex(next.root())}, its checkpoint signs ${toHex(body.rootHash)}`,
        at,
      );
    }
    return this.verifySignature(append.checkpoint, `checkpoint of append ${append.start}`, at);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const CLOSE_OBJECT = 0x7d;

/**
 * Whether the JSON object in `bytes` has the top-level member `"id":<eventId>`, decided without decoding or
 * parsing it: one forward scan (`topLevelIdValue`, a WebAssembly kernel) that skips strings whole and counts
 * brackets outside them, stopping at the first key `id` of the outermost object (a string right after its
 * `{` or a `,`, at depth 1, followed by `:`), whose value must then be exactly the JSON string of `eventId`,
 * followed by `,` or `}`. An `id` nested deeper (`actor.id`, a resource's id, anything planted in `change`) or
 * text inside a string never counts. In RFC 8785 text (what a leaf is: no insignificant whitespace, no
 * duplicate keys) that is exactly the record's own `id` being `eventId`.
 *
 * `false` is not a verdict: the caller parses the record to decide (bytes that are not canonical, e.g. with
 * spaces, are decided there). A `true` on bytes that are not canonical JSON cannot let anything through:
 * such bytes are not a leaf, so they fail the leaf-hash or root check that follows.
 */
export function hasTopLevelId(bytes: Uint8Array, eventId: string): boolean {
  const value = topLevelIdValue(bytes);
  return value >= 0 && isStringValue(bytes, value, eventId);
}

/** Whether `bytes` at `at` hold the JSON string of `value` and then `,` or `}`. */
function isStringValue(bytes: Uint8Array, at: number, value: string): boolean {
  const end = at + value.length + 2;
  if (end < bytes.length && bytes[at] === QUOTE && bytes[end - 1] === QUOTE) {
    // Compared in place while every char is printable ASCII other than `"` and `\` (a UUID is): then the
    // JSON string is the value itself between quotes.
    let i = 0;
    for (; i < value.length; i++) {
      const char = value.charCodeAt(i);
      if (char < 0x20 || char > 0x7e || char === QUOTE || char === BACKSLASH) break;
      if (bytes[at + 1 + i] !== char) return false;
    }
    if (i === value.length) return bytes[end] === COMMA || bytes[end] === CLOSE_OBJECT;
  }
  // Anything else is encoded as JSON writes it, then compared.
  const literal = Buffer.from(JSON.stringify(value), 'utf8');
  const literalEnd = at + literal.length;
  if (literalEnd >= bytes.length || (bytes[literalEnd] !== COMMA && bytes[literalEnd] !== CLOSE_OBJECT))
    return false;
  for (let k = 0; k < literal.length; k++) if (bytes[at + k] !== literal[k]) return false;
  return true;
}

function parseRecord(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(utf8Text(bytes));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Where an event says it is (from its receipt, or its stored position). */
export interface EventPosition {
  readonly eventId: string;
  readonly origin: string;
  readonly leafIndex: number;
}

/**
 * An event claiming a position its log's verified part does not have is an orphan: its log was rolled back
 * past it, or the event was planted. `verifiedSizes` maps each verified origin to its verified size.
 */
export function checkEventPosition(
  claim: EventPosition,
  verifiedSizes: ReadonlyMap<string, number>,
): VerifyFailure | undefined {
  const size = verifiedSizes.get(claim.origin);
  const at = { leafIndex: claim.leafIndex, eventId: claim.eventId };
  if (size === undefined) {
    return {
      origin: claim.origin,
      check: 'orphan',
      message: `event ${claim.eventId} names log ${claim.origin}, which was not verified`,
      ...at,
    };
  }
  if (claim.leafIndex >= size) {
    return {
      origin: claim.origin,
      check: 'orphan',
      message: `event ${claim.eventId} claims leaf ${claim.leafIndex} but the verified log has ${size} leaves (head rolled back or event planted)`,
      ...at,
    };
  }
  return undefined;
}

/** One line for people: where and what. */
export function describeFailure(failure: VerifyFailure): string {
  const where = [
    `log ${failure.origin}`,
    failure.leafIndex !== undefined ? `leaf ${failure.leafIndex}` : undefined,
    failure.eventId !== undefined ? `event ${failure.eventId}` : undefined,
  ].filter((part) => part !== undefined);
  return `${failure.check}: ${where.join(', ')}: ${failure.message}`;
}
