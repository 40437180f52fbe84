import { aws_cloudwatch as cloudwatch, Duration, aws_lambda as lambda } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { AuditFunction } from './audit-function.ts';
import { FailureQueue } from './failure-queue.ts';
import type { LedgerTable } from './ledger-table.ts';
import type { OperationsKey } from './operations-key.ts';

export interface LedgerStreamConsumerProps {
  /** The consumer (returns `batchItemFailures`, see `lambdas/streams/batch.ts`). */
  readonly function: AuditFunction;
  readonly ledger: LedgerTable;
  /** Encrypts the on-failure queue. */
  readonly failureQueueKey: OperationsKey;
  /** Short name for alarm descriptions, e.g. "archiver". */
  readonly purpose: string;
  /**
   * Most records per invocation (1 to 10000).
   * @default 100
   */
  readonly batchSize?: number;
  /**
   * How long Lambda gathers records before invoking (0 to 300 s): larger batches, fewer invocations.
   * @default - none (invoke as soon as records arrive)
   */
  readonly maxBatchingWindow?: Duration;
  /**
   * Retries of a failed batch (each half after a bisection counts), before it goes to the failure queue.
   * @default 5
   */
  readonly retryAttempts?: number;
  /**
   * Records older than this go to the failure queue instead of being retried (60 s to 7 days; DynamoDB
   * streams keep records 24 hours).
   * @default Duration.hours(24)
   */
  readonly maxRecordAge?: Duration;
  /**
   * Event filter patterns (Lambda event filtering, OR-ed): records that match none never invoke the function.
   * @default - every record
   */
  readonly filters?: ReadonlyArray<Record<string, unknown>>;
  /**
   * Alarm when the newest record the consumer processed was older than this for 5 minutes in a row.
   * @default Duration.minutes(5)
   */
  readonly iteratorAgeThreshold?: Duration;
}

const DEFAULT_PROPS = {
  batchSize: 100,
  retryAttempts: 5,
  maxRecordAge: Duration.hours(24),
  iteratorAgeThreshold: Duration.minutes(5),
} as const;

/**
 * A consumer of the ledger table's stream: the Lambda event source mapping (TRIM_HORIZON, partial batch
 * responses, bisection on error, bounded retries and record age, optional filters), the function's stream
 * read grant, and an on-failure destination: a FailureQueue that receives, for each batch that failed
 * every retry, Lambda's record of it (shard, first and last sequence numbers, approximate arrival times,
 * the error), enough to find and replay those records while the table still holds them. Alarms: iterator
 * age, and the failure queue's depth.
 */
export class LedgerStreamConsumer extends Construct {
  readonly mapping: lambda.EventSourceMapping;
  readonly failureQueue: FailureQueue;
  /** Fires when the consumer falls behind the stream. */
  readonly iteratorAgeAlarm: cloudwatch.Alarm;
  private readonly fn: AuditFunction;

  constructor(scope: Construct, id: string, props: LedgerStreamConsumerProps) {
    super(scope, id);
    const p = { ...DEFAULT_PROPS, ...props };
    if (!Number.isInteger(p.batchSize) || p.batchSize < 1 || p.batchSize > 10_000) {
      throw new Error(`batchSize must be a whole number from 1 to 10000, got ${p.batchSize}`);
    }
    if (!Number.isInteger(p.retryAttempts) || p.retryAttempts < 0 || p.retryAttempts > 10_000) {
      throw new Error(`retryAttempts must be a whole number from 0 to 10000, got ${p.retryAttempts}`);
    }
    const age = p.maxRecordAge.toSeconds();
    if (age < 60 || age > 604_800) {
      throw new Error(`maxRecordAge must be from 60 seconds to 7 days, got ${age} seconds`);
    }
    this.fn = p.function;

    this.failureQueue = new FailureQueue(this, 'OnFailure', {
      encryptionKey: p.failureQueueKey,
      purpose: `${p.purpose}: stream batches that failed every retry`,
    });
    const grants = p.ledger
      .grantStreamRead(p.function)
      .combine(this.failureQueue.grantSendMessages(p.function));
    const destination = this.failureQueue.queueArn;

    this.mapping = new lambda.EventSourceMapping(this, 'Mapping', {
      target: p.function.function,
      eventSourceArn: p.ledger.tableStreamArn,
      startingPosition: lambda.StartingPosition.TRIM_HORIZON,
      batchSize: p.batchSize,
      ...(p.maxBatchingWindow ? { maxBatchingWindow: p.maxBatchingWindow } : {}),
      parallelizationFactor: 1,
      bisectBatchOnError: true,
      retryAttempts: p.retryAttempts,
      maxRecordAge: p.maxRecordAge,
      reportBatchItemFailures: true,
      onFailure: { bind: () => ({ destination }) },
      ...(p.filters ? { filters: p.filters.map((pattern) => ({ pattern: JSON.stringify(pattern) })) } : {}),
    });
    // Lambda checks the role's access to the stream and the destination when the mapping is created.
    grants.applyBefore(this.mapping);

    this.iteratorAgeAlarm = this.metricIteratorAge().createAlarm(this, 'IteratorAgeAlarm', {
      alarmDescription: `audit-trail ${p.purpose}: stream records waited over ${p.iteratorAgeThreshold.toHumanString()}`,
      threshold: p.iteratorAgeThreshold.toMilliseconds(),
      evaluationPeriods: 5,
      datapointsToAlarm: 5,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  /** Age of the last record in each batch when it was processed (AWS/Lambda IteratorAge, maximum per minute). */
  metricIteratorAge(): cloudwatch.Metric {
    return this.fn.function.metric('IteratorAge', { statistic: 'Maximum', period: Duration.minutes(1) });
  }
}
