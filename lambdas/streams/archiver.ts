import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { type ArchivePlan, type PlannedObject, type PositionedChange, planArchive } from '#core/archiving.ts';
import type { ArchiveStore } from '#core/ports.ts';
import { type FirstFailure, reportFromFirstFailure } from './batch.ts';
import { decodeLedgerChange, type LedgerItemCodec, PoisonRecordError } from './ledger-records.ts';

/** Hot retention: event records get a TTL only once the archive holds them. */
export interface HotRetention {
  /** Days a record stays in the table after it is archived. */
  readonly days: number;
  /** Sets the TTL of event records that still exist (never resurrects a deleted one). */
  expire(
    events: readonly { readonly tenant: string; readonly eventId: string }[],
    expiresAt: Date,
  ): Promise<void>;
}

/** Structured log lines (Powertools Logger fits). */
export interface StreamLog {
  error(message: string, extra: Record<string, unknown>): void;
}

export interface ArchiverOutcome {
  readonly records: number;
  readonly objectsWritten: number;
  readonly eventsArchived: number;
  /** Records reported in batchItemFailures (the first failure and everything after it). */
  readonly failedRecords: number;
}

export interface ArchiverDeps {
  readonly archive: ArchiveStore;
  readonly codec: LedgerItemCodec;
  /** @default - no TTL is set (HOT_RETENTION_DAYS unset) */
  readonly hotRetention?: HotRetention;
  readonly clock?: () => Date;
  readonly log?: StreamLog;
  /** Called once per batch (metrics live in the entry point). */
  readonly observe?: (outcome: ArchiverOutcome) => void;
}

export class ArchiveWriteError extends Error {
  override readonly name = 'ArchiveWriteError';
}

/**
 * The archiver: the ledger table's stream (NEW_IMAGE) into the Object Lock archive. Objects are written in
 * the order of the first record each holds; the first poison record or failed object stops the batch, and
 * it and every later record are reported failed (see `batch.ts` for why that keeps every record).
 */
export function createArchiver(deps: ArchiverDeps) {
  const clock = deps.clock ?? (() => new Date());
  return async (event: DynamoDBStreamEvent, context?: Context): Promise<DynamoDBBatchResponse> => {
    const decoded = decodeBatch(event, deps.codec);
    let failure = decoded.failure;
    const plan = planBeforeFailure(decoded.changes, failure);
    failure = plan.failure;
    const written = await writeObjects(plan.plan.objects, deps, clock(), failure?.index);
    failure = earliest(failure, written.failure);
    if (failure) {
      deps.log?.error('archiving stopped at a failed record; it and the records after it will be retried', {
        index: failure.index,
        sequenceNumber: event.Records[failure.index]?.dynamodb?.SequenceNumber,
        error: failure.error,
      });
    }
    deps.observe?.({
      records: event.Records.length,
      objectsWritten: written.objects,
      eventsArchived: written.events,
      failedRecords: failure ? event.Records.length - failure.index : 0,
    });
    return reportFromFirstFailure(event, context, failure);
  };
}

function decodeBatch(event: DynamoDBStreamEvent, codec: LedgerItemCodec) {
  const changes: PositionedChange[] = [];
  for (const [index, record] of event.Records.entries()) {
    try {
      const change = decodeLedgerChange(record, codec);
      if (change.kind !== 'ignored') changes.push({ position: index, change });
    } catch (error) {
      return { changes, failure: { index, error: error as Error } };
    }
  }
  return { changes, failure: undefined };
}

/** A record whose place another record holds with other content fails like a poison record, and first. */
function planBeforeFailure(
  changes: readonly PositionedChange[],
  failure: FirstFailure | undefined,
): { plan: ArchivePlan; failure: FirstFailure | undefined } {
  const plan = planArchive(changes);
  const conflict = plan.conflicts[0];
  if (conflict === undefined) return { plan, failure };
  const error = new PoisonRecordError(
    `record ${conflict} claims a log position another record of the batch holds with other content`,
  );
  const first = earliest(failure, { index: conflict, error })!;
  return { plan: planArchive(changes.filter((change) => change.position < first.index)), failure: first };
}

async function writeObjects(
  objects: readonly PlannedObject[],
  deps: ArchiverDeps,
  now: Date,
  stopAt: number | undefined,
): Promise<{ objects: number; events: number; failure?: FirstFailure }> {
  let written = 0;
  let events = 0;
  for (const object of objects) {
    const first = object.positions[0]!;
    if (stopAt !== undefined && first >= stopAt) break;
    try {
      await deps.archive.put(object.key, object.body, object.contentType);
      if (deps.hotRetention && object.events.length > 0) {
        const expiresAt = new Date(now.getTime() + deps.hotRetention.days * 86_400_000);
        await deps.hotRetention.expire(object.events, expiresAt);
      }
    } catch (error) {
      const failure = new ArchiveWriteError(`archiving ${object.key} failed: ${(error as Error).message}`, {
        cause: error,
      });
      return { objects: written, events, failure: { index: first, error: failure } };
    }
    written += 1;
    events += object.events.length;
  }
  return { objects: written, events };
}

const earliest = (a: FirstFailure | undefined, b: FirstFailure | undefined) =>
  !a ? b : !b ? a : b.index < a.index ? b : a;
