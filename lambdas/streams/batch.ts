import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';

/**
 * Partial batch responses for consumers that cannot finish records one by one (an archive object holds
 * many records; a PutEvents call carries ten). Lambda checkpoints a shard at the lowest failed sequence
 * number and redelivers everything after it, so a consumer that stops at its first failure and reports
 * that record and every later one loses nothing and repeats nothing it does not have to:
 * - a poison record first in its batch fails the whole batch, so Powertools throws and bisection splits
 *   the batch until the record is alone; its retries run out and it reaches the on-failure destination;
 * - a failure later in the batch keeps the records before it checkpointed.
 */
export interface FirstFailure {
  /** Index in `event.Records` of the first record that did not complete. */
  readonly index: number;
  readonly error: Error;
}

/** A record after the first failure: not attempted in this invocation, redelivered by Lambda. */
export class NotAttemptedError extends Error {
  override readonly name = 'NotAttemptedError';
}

/**
 * Reports the outcome through Powertools' BatchProcessor (sequence numbers in `batchItemFailures`; a batch
 * where every record failed throws FullBatchFailureError, which is what triggers bisection).
 */
export async function reportFromFirstFailure(
  event: DynamoDBStreamEvent,
  context: Context | undefined,
  failure: FirstFailure | undefined,
): Promise<DynamoDBBatchResponse> {
  const indexes = new Map<DynamoDBRecord, number>(event.Records.map((record, index) => [record, index]));
  const recordHandler = async (record: DynamoDBRecord): Promise<void> => {
    const index = indexes.get(record) ?? 0;
    if (!failure || index < failure.index) return;
    if (index === failure.index) throw failure.error;
    throw new NotAttemptedError(`not attempted: record ${failure.index} of the batch failed first`);
  };
  // A fresh processor per invocation: the processor holds the batch, and the sandbox may invoke concurrently.
  const processor = new BatchProcessor(EventType.DynamoDBStreams);
  return processPartialResponse(event, recordHandler, processor, {
    ...(context ? { context } : {}),
    processInParallel: false,
  });
}
