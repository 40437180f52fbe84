import type { SignedCheckpoint } from './checkpoint.ts';
import type { Hash } from './merkle.ts';
import type { PublicKeyInfo } from './signer.ts';

/** The newest state of one log: what the next append extends. */
export interface LogHead {
  readonly origin: string;
  readonly size: number;
  readonly frontier: readonly Hash[];
  /** Null for an empty log. */
  readonly checkpoint: SignedCheckpoint | null;
}

/**
 * One append (one ingest request) to one log, stored immutably. It keeps what a verifier needs to check it
 * extends the one before: the previous checkpoint and the frontier it extended, plus the new frontier.
 */
export interface AppendRecord {
  readonly origin: string;
  readonly tenant: string;
  /** Leaf index of the first new leaf: the previous tree size. */
  readonly start: number;
  /** Tree size after this append. */
  readonly size: number;
  readonly previous: SignedCheckpoint | null;
  readonly previousFrontier: readonly Hash[];
  readonly checkpoint: SignedCheckpoint;
  readonly frontier: readonly Hash[];
  /** Event ids of leaves [start, size), in leaf order. */
  readonly eventIds: readonly string[];
}

/** An event as stored: the exact record bytes that were hashed and where they sit in which log. */
export interface StoredEvent {
  readonly tenant: string;
  readonly eventId: string;
  /** Canonical JSON (RFC 8785) of the record: the Merkle leaf. */
  readonly record: string;
  readonly origin: string;
  readonly leafIndex: number;
  /** Start of the append this event arrived in (its append record's key). */
  readonly appendStart: number;
  readonly leafHash: Hash;
  /** The fields the read indexes use; known at ingest, derived from `record` when absent. */
  readonly index?: EventIndexFields;
}

export interface EventIndexFields {
  readonly time: string;
  readonly actorId: string;
  readonly resourceId: string;
  readonly action: string;
  readonly outcome: string;
}

/** Index fields of a record (its event time, actor, primary resource, action and outcome). */
export function indexFieldsOf(record: {
  time: string;
  action: string;
  outcome: string;
  actor: { id: string };
  resources: readonly { id: string }[];
}): EventIndexFields {
  return {
    time: record.time,
    actorId: record.actor.id,
    resourceId: record.resources[0]?.id ?? '',
    action: record.action,
    outcome: record.outcome,
  };
}

/** Filters of `GET /v1/events`. Times compare against the event's `time`. */
export interface EventQuery {
  readonly tenant: string;
  readonly from?: string;
  readonly to?: string;
  readonly actor?: string;
  readonly resource?: string;
  readonly action?: string;
  readonly outcome?: string;
  readonly limit: number;
  readonly cursor?: string;
}

export interface EventPage {
  readonly events: StoredEvent[];
  readonly cursor?: string;
}

/** Thrown by `commitAppend` when the transaction lost: the head moved or an event id now exists. */
export class AppendConflictError extends Error {
  override readonly name = 'AppendConflictError';
  constructor(
    readonly reason: 'head_moved' | 'duplicate_event',
    options?: ErrorOptions,
  ) {
    super(`append lost its condition: ${reason}`, options);
  }
}

/** Port: the ledger. DynamoDB in AWS and in the sandbox (DynamoDB Local); in memory in unit tests. */
export interface LedgerStore {
  readHead(origin: string): Promise<LogHead>;
  /** Strongly consistent: idempotency decisions depend on it. */
  getEvents(tenant: string, eventIds: readonly string[]): Promise<Map<string, StoredEvent>>;
  /**
   * Atomically stores the append record and its events; fails with AppendConflictError (and stores nothing)
   * if the append's position is taken or any event id exists.
   */
  commitAppend(append: AppendRecord, events: readonly StoredEvent[]): Promise<void>;
  getAppend(origin: string, start: number): Promise<AppendRecord | undefined>;
  /** Appends of a log in order, starting at the append whose start is `fromStart`. */
  listAppends(
    origin: string,
    fromStart: number,
    limit: number,
  ): Promise<{ appends: AppendRecord[]; next?: number }>;
  registerKey(key: PublicKeyInfo): Promise<void>;
  listKeys(): Promise<PublicKeyInfo[]>;
  queryEvents(query: EventQuery): Promise<EventPage>;
}

/** Port: the Object Lock archive (S3 in AWS, an S3-compatible server locally, a directory for exports). */
export interface ArchiveStore {
  /** Writes an object with a SHA-256 checksum (Object Lock requires an integrity checksum on every put). */
  put(key: string, body: Uint8Array, contentType: string): Promise<void>;
  /** Undefined if the object does not exist. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Keys under a prefix in lexicographic order. */
  list(prefix: string): AsyncIterable<string>;
}

/** An entry for the event bus: EventBridge in AWS, in-process rule matching in the sandbox. */
export interface BusEntry {
  readonly source: string;
  readonly detailType: string;
  readonly detail: unknown;
  readonly time?: Date;
}

/** Port: the event bus the alert rules listen on. */
export interface EventBus {
  publish(entries: readonly BusEntry[]): Promise<void>;
}
