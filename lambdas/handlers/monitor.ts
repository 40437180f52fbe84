import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { DynamoLedgerStore } from '#adapters/dynamo-ledger-store.ts';
import { EventBridgeBus } from '#adapters/eventbridge-bus.ts';
import { S3ArchiveStore } from '#adapters/s3-archive.ts';
import { ENV } from '#core/env-names.ts';
import { type MonitorSummary, monitoredOrigins, runIntegrityMonitor } from '#core/integrity-monitor.ts';
import { requireEnv, tenantsFromEnv } from './env.ts';

const logger = new Logger();
const metrics = new Metrics();
const store = new DynamoLedgerStore(new DynamoDBClient({}), requireEnv(ENV.ledgerTable));
const archive = new S3ArchiveStore(new S3Client({}), requireEnv(ENV.archiveBucket));
const bus = new EventBridgeBus(new EventBridgeClient({}), requireEnv(ENV.eventBus));
const origins = monitoredOrigins(tenantsFromEnv(), requireEnv(ENV.deploymentOrigin));

/**
 * Scheduled (EventBridge Scheduler / rule). Publishes `Integrity Violation` entries and the metrics the
 * alarms watch: IntegrityViolations (any > 0 is an incident), ArchiveLagWarnings, MonitorErrors.
 */
export const handler = async (_event: unknown, context: Context): Promise<MonitorSummary> => {
  logger.addContext(context);
  try {
    const summary = await runIntegrityMonitor({ store, archive, bus, origins });
    record(summary);
    return summary;
  } finally {
    metrics.publishStoredMetrics();
  }
};

function record(summary: MonitorSummary): void {
  metrics.addMetric('IntegrityViolations', MetricUnit.Count, summary.violations.length);
  metrics.addMetric('ArchiveLagWarnings', MetricUnit.Count, summary.warnings.length);
  metrics.addMetric('MonitorErrors', MetricUnit.Count, summary.errors.length);
  for (const violation of summary.violations) logger.error('integrity violation', { violation });
  for (const warning of summary.warnings) logger.warn('archive lag', { warning });
  for (const error of summary.errors) logger.error('log could not be checked', { error });
  logger.info('integrity monitor run', {
    logs: summary.logs.length,
    violations: summary.violations.length,
    warnings: summary.warnings.length,
    errors: summary.errors.length,
  });
}
