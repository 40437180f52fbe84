import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { DynamoLedgerStore } from '#adapters/dynamo-ledger-store.ts';
import { EventBridgeBus } from '#adapters/eventbridge-bus.ts';
import { KmsSigner } from '#adapters/kms-signer.ts';
import { S3ArchiveStore } from '#adapters/s3-archive.ts';
import { ENV } from '#core/env-names.ts';
import { type MonitorSummary, monitoredOrigins, runIntegrityMonitor } from '#core/integrity-monitor.ts';
import { createViolationRecorder } from '#core/violation-recorder.ts';
import { requireEnv, signingAlgorithmFromEnv, tenantsFromEnv } from './env.ts';

const logger = new Logger();
const metrics = new Metrics();
const tenants = tenantsFromEnv();
const deploymentOrigin = requireEnv(ENV.deploymentOrigin);
const store = new DynamoLedgerStore(new DynamoDBClient({}), requireEnv(ENV.ledgerTable));
const archive = new S3ArchiveStore(new S3Client({}), requireEnv(ENV.archiveBucket));
const bus = new EventBridgeBus(new EventBridgeClient({}), requireEnv(ENV.eventBus));
const signer = new KmsSigner(new KMSClient({}), requireEnv(ENV.signingKey), signingAlgorithmFromEnv());
const origins = monitoredOrigins(tenants, deploymentOrigin);
const recordViolations = createViolationRecorder({
  store,
  signer,
  deploymentOrigin,
  tenants,
  identity: monitorIdentity(requireEnv(ENV.monitorRoleArn)),
  onSigned: () => metrics.addMetric('checkpointsSigned', MetricUnit.Count, 1),
});

/** The monitor's role ARN (set by CDK) and the account it names: the caller of the records it writes. */
function monitorIdentity(roleArn: string) {
  const account = /^arn:aws[a-z-]*:iam::(\d{12}):role\/.+$/.exec(roleArn)?.[1];
  if (!account) throw new Error(`${ENV.monitorRoleArn} must be an IAM role ARN, got ${roleArn}`);
  return { principalArn: roleArn, accountId: account };
}

/**
 * Scheduled (EventBridge Scheduler / rule). Publishes `Integrity Violation` entries, records each violation
 * in the affected tenant's trail (an `integrity.violation` audit event), and emits the metrics the alarms
 * watch: IntegrityViolations (any > 0 is an incident), ArchiveLagWarnings, MonitorErrors, plus
 * ViolationsRecorded / ViolationsNotRecorded.
 */
export const handler = async (_event: unknown, context: Context): Promise<MonitorSummary> => {
  logger.addContext(context);
  try {
    const summary = await runIntegrityMonitor({ store, archive, bus, origins, recordViolations });
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
  const recording = summary.recording ?? { recorded: [], failed: [] };
  const newlyRecorded = recording.recorded.filter((entry) => entry.status === 'recorded');
  metrics.addMetric('ViolationsRecorded', MetricUnit.Count, newlyRecorded.length);
  metrics.addMetric('ViolationsNotRecorded', MetricUnit.Count, recording.failed.length);
  for (const violation of summary.violations) logger.error('integrity violation', { violation });
  for (const warning of summary.warnings) logger.warn('archive lag', { warning });
  for (const error of summary.errors) logger.error('log could not be checked', { error });
  for (const recorded of newlyRecorded)
    logger.info('integrity violation recorded in the trail', { recorded });
  for (const failure of recording.failed) {
    logger.error('integrity violation not recorded in the trail', { failure });
  }
  logger.info('integrity monitor run', {
    logs: summary.logs.length,
    violations: summary.violations.length,
    warnings: summary.warnings.length,
    errors: summary.errors.length,
    recorded: newlyRecorded.length,
    notRecorded: recording.failed.length,
  });
}
