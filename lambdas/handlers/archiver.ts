import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import type { Context, DynamoDBStreamEvent } from 'aws-lambda';
import { DynamoHotRetention } from '#adapters/dynamo-hot-retention.ts';
import { appendFromItem, eventFromItem } from '#adapters/dynamo-ledger-store.ts';
import { S3ArchiveStore } from '#adapters/s3-archive.ts';
import { ENV } from '#core/env-names.ts';
import { createArchiver } from '../streams/archiver.ts';
import { requireEnv } from './env.ts';
import { createLogger } from './logger.ts';

const logger = createLogger();
const metrics = new Metrics();
const archive = new S3ArchiveStore(new S3Client({}), requireEnv(ENV.archiveBucket));

/** HOT_RETENTION_DAYS unset: records stay in the table (no TTL); set: a whole number of days, at least 1. */
function hotRetentionFromEnv(): DynamoHotRetention | undefined {
  const raw = process.env[ENV.hotRetentionDays];
  if (raw === undefined || raw === '') return undefined;
  const days = Number(raw);
  if (!Number.isInteger(days) || days < 1)
    throw new Error(`${ENV.hotRetentionDays} must be a whole number of days, got ${raw}`);
  return new DynamoHotRetention(new DynamoDBClient({}), requireEnv(ENV.ledgerTable), days);
}

const archiver = createArchiver({
  archive,
  codec: { eventFromItem, appendFromItem },
  hotRetention: hotRetentionFromEnv(),
  log: logger,
  observe: (outcome) => {
    metrics.addMetric('ArchivedObjects', MetricUnit.Count, outcome.objectsWritten);
    metrics.addMetric('ArchivedEvents', MetricUnit.Count, outcome.eventsArchived);
    metrics.addMetric('ArchiverFailedRecords', MetricUnit.Count, outcome.failedRecords);
  },
});

/** Ledger table stream (NEW_IMAGE) -> Object Lock archive. Event source: reportBatchItemFailures, bisect. */
export const handler = async (event: DynamoDBStreamEvent, context: Context) => {
  logger.addContext(context);
  try {
    return await archiver(event, context);
  } finally {
    metrics.publishStoredMetrics();
  }
};
