import { canonicalize } from './canonical.ts';
import { formatCheckpointBody } from './checkpoint.ts';
import {
  ContentionError,
  EventConflictError,
  InvalidEventsError,
  InvalidRequestError,
  PayloadTooLargeError,
} from './errors.ts';
import { CompactRange, leafHash, PartialTree } from './merkle.ts';
import {
  AppendConflictError,
  type AppendRecord,
  indexFieldsOf,
  type LedgerStore,
  type StoredEvent,
} from './ports.ts';
import { buildReceipt, type Receipt } from './receipt.ts';
import { rebuildReceipts } from './receipts.ts';
import { type AuditRecord, buildRecord, type CallerIdentity, sameEvent } from './record.ts';
import { AuditEventInput, type EventIssue, LIMITS, toEventIssues } from './schema.ts';
import { type Signer, signCheckpoint } from './signer.ts';
import { type Caller, logOrigin } from './tenancy.ts';

export interface IngestDeps {
  readonly store: LedgerStore;
  readonly signer: Signer;
  /** Prefix of every log origin: `<deploymentOrigin>/<tenant>/<shard>`. */
  readonly deploymentOrigin: string;
  /** Which of a tenant's shards takes this request; random by default so writers spread out. */
  readonly pickShard?: (shards: number) => number;
  /** Attempts at winning the log head before answering 503 (each lost race costs one more signature). */
  readonly maxAttempts?: number;
  /** Observability hook: one call per KMS signature. */
  readonly onSigned?: () => void;
}

export interface IngestRequest {
  readonly caller: Caller;
  readonly identity: CallerIdentity;
  /** Server receive time. */
  readonly receivedAt: Date;
  /** The parsed JSON body. */
  readonly body: unknown;
}

export interface IngestResult {
  /** `created` if at least one event is new; `replayed` if every event was already recorded. */
  readonly status: 'created' | 'replayed';
  readonly receipts: Receipt[];
  readonly appended: number;
}

interface PreparedEvent {
  readonly input: AuditEventInput;
  readonly record: AuditRecord;
  readonly canonical: string;
  readonly leafHash: Uint8Array;
}

/** The ingest use case: validate everything, then append the new events to one log with one signature. */
export function createIngest(deps: IngestDeps) {
  const pickShard = deps.pickShard ?? ((shards: number) => Math.floor(Math.random() * shards));
  const maxAttempts = deps.maxAttempts ?? 5;
  const registeredKeys = new Set<string>();

  async function ensureKeyRegistered(keyId: string): Promise<void> {
    if (registeredKeys.has(keyId)) return;
    const key = await deps.signer.publicKey(keyId);
    await deps.store.registerKey(key);
    registeredKeys.add(key.keyId);
  }

  return async function ingest(request: IngestRequest): Promise<IngestResult> {
    const prepared = prepareBatch(request);
    const tenant = request.caller.tenant;
    const origin = logOrigin(deps.deploymentOrigin, tenant, pickShard(request.caller.shards));
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const existing = await deps.store.getEvents(
        tenant,
        prepared.map((event) => event.input.id),
      );
      const conflicts = prepared.filter((event) => {
        const stored = existing.get(event.input.id);
        return stored !== undefined && !sameEvent(event.input, JSON.parse(stored.record));
      });
      if (conflicts.length > 0) throw new EventConflictError(conflicts.map((event) => event.input.id));
      const fresh = prepared.filter((event) => !existing.has(event.input.id));
      const appended = fresh.length > 0 ? await appendToLog(origin, tenant, fresh) : undefined;
      if (appended === 'lost') continue;
      const replayed = await rebuildReceipts(deps.store, [...existing.values()]);
      const receipts = prepared.map(
        (event) => appended?.get(event.input.id) ?? replayed.get(event.input.id)!,
      );
      return { status: fresh.length > 0 ? 'created' : 'replayed', receipts, appended: fresh.length };
    }
    throw new ContentionError(
      `log ${origin} kept moving; ${maxAttempts} attempts lost the race, retry later`,
    );
  };

  /** One attempt: extend the current head, sign once, commit atomically. 'lost' if another append won. */
  async function appendToLog(origin: string, tenant: string, events: readonly PreparedEvent[]) {
    const head = await deps.store.readHead(origin);
    const leaves = events.map((event) => event.leafHash);
    const tree = new PartialTree(head.size, head.frontier, leaves);
    const range = CompactRange.from(head.size, head.frontier);
    for (const leaf of leaves) range.append(leaf);
    const checkpoint = await signCheckpoint(
      deps.signer,
      formatCheckpointBody({ origin, size: range.size, rootHash: tree.root() }),
    );
    deps.onSigned?.();
    await ensureKeyRegistered(checkpoint.keyId);
    const append: AppendRecord = {
      origin,
      tenant,
      start: head.size,
      size: range.size,
      previous: head.checkpoint,
      previousFrontier: head.frontier,
      checkpoint,
      frontier: range.frontier,
      eventIds: events.map((event) => event.input.id),
    };
    const stored: StoredEvent[] = events.map((event, offset) => ({
      tenant,
      eventId: event.input.id,
      record: event.canonical,
      origin,
      leafIndex: head.size + offset,
      appendStart: head.size,
      leafHash: event.leafHash,
      index: indexFieldsOf(event.input),
    }));
    try {
      await deps.store.commitAppend(append, stored);
    } catch (error) {
      if (error instanceof AppendConflictError) return 'lost' as const;
      throw error;
    }
    return new Map(
      stored.map((event) => [
        event.eventId,
        buildReceipt({
          eventId: event.eventId,
          origin,
          leafIndex: event.leafIndex,
          leafHash: event.leafHash,
          inclusionProof: tree.inclusionProof(event.leafIndex),
          checkpoint,
        }),
      ]),
    );
  }
}

/** Validates the whole batch before anything is written; any invalid event rejects the batch. */
export function prepareBatch(request: IngestRequest): PreparedEvent[] {
  const events = batchEvents(request.body);
  const issues: EventIssue[] = [];
  const firstIndexOfId = new Map<string, number>();
  const prepared: PreparedEvent[] = [];
  const receivedAt = request.receivedAt.toISOString();
  let batchBytes = 0;
  events.forEach((raw, index) => {
    if (hasProtoMetadataKey(raw)) {
      issues.push({ index, path: 'metadata.__proto__', message: 'is not an allowed metadata key' });
      return;
    }
    const parsed = AuditEventInput.safeParse(raw);
    if (!parsed.success) {
      issues.push(...toEventIssues(index, parsed.error));
      return;
    }
    const input = parsed.data;
    const earlier = firstIndexOfId.get(input.id);
    if (earlier !== undefined) {
      issues.push({ index, path: 'id', message: `repeats the id of event ${earlier} in this batch` });
      return;
    }
    firstIndexOfId.set(input.id, index);
    const record = buildRecord(input, {
      tenant: request.caller.tenant,
      receivedAt,
      caller: request.identity,
    });
    const canonical = canonicalize(record);
    const bytes = new TextEncoder().encode(canonical);
    if (bytes.length > LIMITS.maxRecordBytes) {
      issues.push({
        index,
        path: '',
        message: `record is ${bytes.length} bytes; the limit is ${LIMITS.maxRecordBytes}`,
      });
      return;
    }
    batchBytes += bytes.length;
    prepared.push({ input, record, canonical, leafHash: leafHash(bytes) });
  });
  if (issues.length > 0) throw new InvalidEventsError(issues);
  if (batchBytes > LIMITS.maxBatchRecordBytes) {
    throw new PayloadTooLargeError(
      `the batch's records total ${batchBytes} bytes; one request stores at most ${LIMITS.maxBatchRecordBytes}: send smaller batches`,
    );
  }
  return prepared;
}

/**
 * zod skips a `__proto__` key of a record (a JS object cannot hold it as data), so the event would be
 * accepted and signed without a metadata entry the client sent.
 */
const hasProtoMetadataKey = (raw: unknown) => {
  const metadata = (raw as { metadata?: unknown } | null)?.metadata;
  return typeof metadata === 'object' && metadata !== null && Object.hasOwn(metadata, '__proto__');
};

function batchEvents(body: unknown): unknown[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequestError('the body must be a JSON object {"events": [...]}');
  }
  const keys = Object.keys(body);
  const unknown = keys.filter((key) => key !== 'events');
  if (unknown.length > 0)
    throw new InvalidRequestError(`unknown field ${unknown[0]} in the body; only "events" is allowed`);
  const events = (body as { events?: unknown }).events;
  if (!Array.isArray(events)) throw new InvalidRequestError('"events" must be an array of events');
  if (events.length === 0) throw new InvalidRequestError('"events" must hold at least one event');
  if (events.length > LIMITS.maxBatchEvents) {
    throw new PayloadTooLargeError(
      `a batch holds at most ${LIMITS.maxBatchEvents} events, got ${events.length}`,
    );
  }
  return events;
}
