import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { auditEventEntry, EntriesNotPublishedError } from '#core/alert-rules.ts';
import type { BusEntry, EventBus } from '#core/ports.ts';
import type { StreamLog } from './archiver.ts';
import { type FirstFailure, reportFromFirstFailure } from './batch.ts';
import { decodeInsertedEvent, type LedgerItemCodec, PoisonRecordError } from './ledger-records.ts';

export interface AlerterOutcome {
  readonly records: number;
  readonly published: number;
  readonly failedRecords: number;
}

export interface AlerterDeps {
  readonly bus: EventBus;
  readonly codec: LedgerItemCodec;
  readonly log?: StreamLog;
  readonly observe?: (outcome: AlerterOutcome) => void;
}

/**
 * The alerter: one `Audit Event Recorded` bus entry per event record the ledger stream INSERTs (the alert
 * rules match on the bus). It stops at the first record it cannot decode or publish and reports it and
 * every later record failed, so a redelivery publishes each of them once (EventBridge has no de-duplication).
 */
export function createAlerter(deps: AlerterDeps) {
  return async (event: DynamoDBStreamEvent, context?: Context): Promise<DynamoDBBatchResponse> => {
    const { entries, positions, failure: decodeFailure } = collectEntries(event, deps.codec);
    let failure = decodeFailure;
    let published = entries.length;
    if (entries.length > 0) {
      try {
        await deps.bus.publish(entries);
      } catch (error) {
        const first =
          error instanceof EntriesNotPublishedError && error.failed.length > 0
            ? Math.min(...error.failed)
            : 0;
        published = first;
        failure = { index: positions[first]!, error: error as Error };
      }
    }
    if (failure) {
      deps.log?.error('alerting stopped at a failed record; it and the records after it will be retried', {
        index: failure.index,
        sequenceNumber: event.Records[failure.index]?.dynamodb?.SequenceNumber,
        error: failure.error,
      });
    }
    deps.observe?.({
      records: event.Records.length,
      published,
      failedRecords: failure ? event.Records.length - failure.index : 0,
    });
    return reportFromFirstFailure(event, context, failure);
  };
}

/** Bus entries of the batch's new events, up to the first record that cannot be decoded. */
function collectEntries(event: DynamoDBStreamEvent, codec: LedgerItemCodec) {
  const entries: BusEntry[] = [];
  const positions: number[] = [];
  let failure: FirstFailure | undefined;
  for (const [index, record] of event.Records.entries()) {
    try {
      const stored = decodeInsertedEvent(record, codec);
      if (!stored) continue;
      entries.push(toEntry(stored));
      positions.push(index);
    } catch (error) {
      failure = { index, error: error as Error };
      break;
    }
  }
  return { entries, positions, failure };
}

function toEntry(stored: Parameters<typeof auditEventEntry>[0]): BusEntry {
  try {
    return auditEventEntry(stored);
  } catch (error) {
    throw new PoisonRecordError(
      `event ${stored.eventId} cannot become a bus entry: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
