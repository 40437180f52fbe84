import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { buildAlertRules } from '#core/alert-rules.ts';
import { ARCHIVE_PREFIXES } from '#core/archive-layout.ts';
import { ENV } from '#core/env-names.ts';
import { MONITOR_STATE_PREFIX } from '#core/integrity-monitor.ts';
import { eventKey } from '#core/ledger-layout.ts';
import { alertRulesConfig, type StageConfig, tenantsEnvironmentValue } from '../config/schema.ts';
import { ApiAccessPolicies } from '../constructs/api-access-policies.ts';
import type { ArchiveBucket } from '../constructs/archive-bucket.ts';
import { AuditAlerts } from '../constructs/audit-alerts.ts';
import { AuditApi } from '../constructs/audit-api.ts';
import { AuditFunction } from '../constructs/audit-function.ts';
import { AuditQueries } from '../constructs/audit-queries.ts';
import { ManagedPolicyGrantee } from '../constructs/grant-helpers.ts';
import { IntegrityMonitor } from '../constructs/integrity-monitor.ts';
import { LedgerStreamConsumer } from '../constructs/ledger-stream-consumer.ts';
import type { LedgerTable } from '../constructs/ledger-table.ts';
import { OperationsDashboard } from '../constructs/operations-dashboard.ts';
import type { OperationsKey } from '../constructs/operations-key.ts';
import type { QueryResultsBucket } from '../constructs/query-results-bucket.ts';
import type { SigningKey } from '../constructs/signing-key.ts';

const projectFile = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

/** Handler entry files (each exports `handler`). */
export const HANDLER_ENTRIES = {
  ingest: projectFile('lambdas/handlers/ingest.ts'),
  read: projectFile('lambdas/handlers/read.ts'),
  archiver: projectFile('lambdas/handlers/archiver.ts'),
  alerter: projectFile('lambdas/handlers/alerter.ts'),
  monitor: projectFile('lambdas/handlers/monitor.ts'),
} as const;

/** pk prefix of event records (`EVENT#<tenant>#<id>`): the only items the alerter is invoked for. */
export const EVENT_ITEM_PREFIX = eventKey('', '').pk.replace(/#+$/, '#');

/**
 * Stream filters (Lambda event filtering: filtered-out records never invoke, and cost nothing). Both
 * consumers act on INSERTs only; MODIFY (the archiver setting a TTL) and REMOVE (TTL expiry) are dropped.
 */
export const STREAM_FILTERS = {
  archiver: [{ eventName: ['INSERT'] }],
  alerter: [{ eventName: ['INSERT'], dynamodb: { Keys: { pk: { S: [{ prefix: EVENT_ITEM_PREFIX }] } } } }],
} as const;

export interface StatelessStackProps extends StackProps {
  readonly stageName: string;
  readonly config: StageConfig;
  readonly signingKey: SigningKey;
  readonly ledger: LedgerTable;
  readonly archive: ArchiveBucket;
  readonly queryResults: QueryResultsBucket;
  readonly operationsKey: OperationsKey;
}

/**
 * Everything that can be replaced freely: the functions, the API, the stream consumers, the alert bus,
 * rules and topic, the integrity monitor, the Athena database/table/workgroup/named queries, alarms, the
 * dashboard, and the callers' role policies.
 */
export class StatelessStack extends Stack {
  readonly ingestFunction: AuditFunction;
  readonly readFunction: AuditFunction;
  readonly api: AuditApi;
  readonly policies: ApiAccessPolicies;
  readonly archiverFunction: AuditFunction;
  readonly alerterFunction: AuditFunction;
  readonly monitorFunction: AuditFunction;
  readonly archiverStream: LedgerStreamConsumer;
  readonly alerterStream: LedgerStreamConsumer;
  readonly alerts: AuditAlerts;
  readonly monitor: IntegrityMonitor;
  readonly queries: AuditQueries;
  readonly legalHoldPolicy: ManagedPolicyGrantee;
  readonly dashboard: OperationsDashboard;

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, props);
    const { stageName, config, signingKey, ledger, archive, queryResults, operationsKey } = props;

    const base = {
      depsLockFilePath: projectFile('package-lock.json'),
      logRetention: config.logRetentionDays,
      tracing: config.api.tracing,
    };
    const deployment = {
      [ENV.deploymentOrigin]: config.deploymentOrigin,
      [ENV.tenants]: tenantsEnvironmentValue(config),
    };
    const common = { ...base, environment: deployment };
    this.ingestFunction = new AuditFunction(this, 'Ingest', {
      ...common,
      entry: HANDLER_ENTRIES.ingest,
      serviceName: 'audit-trail-ingest',
      description:
        'POST /v1/events: validate, append to the tenant log, sign the checkpoint, return receipts',
    });
    ledger.bindTo(this.ingestFunction, 'append');
    signingKey.bindTo(this.ingestFunction, 'sign');

    this.readFunction = new AuditFunction(this, 'Read', {
      ...common,
      entry: HANDLER_ENTRIES.read,
      serviceName: 'audit-trail-read',
      description: 'GET /v1/*: events, receipts, checkpoints, appends, public keys, OpenAPI',
    });
    // Public keys are served from the table (KEYS partition), so the read path never touches KMS.
    ledger.bindTo(this.readFunction, 'read');

    this.api = new AuditApi(this, 'Api', {
      stageName,
      ingestFunction: this.ingestFunction.function,
      readFunction: this.readFunction.function,
      throttling: config.api.throttling,
      tracing: config.api.tracing,
      executionLogLevel: config.api.executionLogLevel,
      webAclArn: config.api.webAclArn,
      accessLogRetention: config.logRetentionDays,
    });
    this.policies = new ApiAccessPolicies(this, 'AccessPolicies', { api: this.api });

    // Alerts: the bus the alerter and the monitor publish on, one rule per catalogue entry, the topic.
    this.alerts = new AuditAlerts(this, 'Alerts', {
      stageName,
      rules: buildAlertRules(alertRulesConfig(config)),
      encryptionKey: operationsKey,
      emailRecipients: config.alerts.emailRecipients,
    });

    // Stream -> Object Lock archive. Large batches make few, large objects (each a run of one log).
    this.archiverFunction = new AuditFunction(this, 'Archiver', {
      ...base,
      trigger: 'event',
      timeout: Duration.minutes(2),
      entry: HANDLER_ENTRIES.archiver,
      serviceName: 'audit-trail-archiver',
      description:
        'Ledger stream -> Object Lock archive (events, checkpoints, keys); then starts hot retention (TTL)',
      environment: { [ENV.hotRetentionDays]: String(config.ledger.hotRetentionDays) },
    });
    archive.bindTo(this.archiverFunction, 'write', Object.values(ARCHIVE_PREFIXES));
    ledger.bindTo(this.archiverFunction, 'setExpiry');
    this.archiverStream = new LedgerStreamConsumer(this, 'ArchiverStream', {
      function: this.archiverFunction,
      ledger,
      failureQueueKey: operationsKey,
      purpose: 'archiver',
      batchSize: 1000,
      maxBatchingWindow: Duration.seconds(5),
      maxRecordAge: Duration.hours(24),
      filters: STREAM_FILTERS.archiver,
    });

    // Stream -> audit bus, for the alert rules. Small batches, no batching window: latency first.
    this.alerterFunction = new AuditFunction(this, 'Alerter', {
      ...base,
      trigger: 'event',
      timeout: Duration.minutes(1),
      memorySize: 512,
      entry: HANDLER_ENTRIES.alerter,
      serviceName: 'audit-trail-alerter',
      description: 'Ledger stream -> Audit Event Recorded entries on the audit bus (alert rules match there)',
    });
    this.alerts.bindTo(this.alerterFunction);
    this.alerterStream = new LedgerStreamConsumer(this, 'AlerterStream', {
      function: this.alerterFunction,
      ledger,
      failureQueueKey: operationsKey,
      purpose: 'alerter',
      batchSize: 100,
      maxRecordAge: Duration.hours(6),
      filters: STREAM_FILTERS.alerter,
    });

    // Schedule -> integrity monitor: re-verifies the table against the archive.
    this.monitorFunction = new AuditFunction(this, 'Monitor', {
      ...common,
      trigger: 'event',
      timeout: Duration.minutes(5),
      entry: HANDLER_ENTRIES.monitor,
      serviceName: 'audit-trail-monitor',
      description:
        'Scheduled integrity monitor: ledger vs Object Lock archive; publishes Integrity Violation entries and records them in the trail',
    });
    // It reads every log, and records each violation it finds as an audit event in the tenant's trail
    // through the ingest use case: the append grant (which includes readLog's reads) and the signing key.
    ledger.bindTo(this.monitorFunction, 'append');
    signingKey.bindTo(this.monitorFunction, 'sign');
    archive.bindTo(this.monitorFunction, 'readWrite', [MONITOR_STATE_PREFIX]);
    this.alerts.bindTo(this.monitorFunction);
    this.monitor = new IntegrityMonitor(this, 'IntegrityMonitor', {
      function: this.monitorFunction,
      interval: Duration.minutes(config.monitor.intervalMinutes),
    });

    this.queries = new AuditQueries(this, 'Queries', {
      stageName,
      archive,
      results: queryResults,
      tenants: config.tenants.map((tenant) => tenant.name),
      bytesScannedCutoffPerQuery: config.athena.bytesScannedCutoff,
    });
    this.legalHoldPolicy = new ManagedPolicyGrantee(this, 'LegalHoldPolicy', {
      description: 'audit-trail legal holds: place, read and remove legal holds on archived object versions',
    });
    archive.grantLegalHold(this.legalHoldPolicy);

    const functions = [
      this.ingestFunction,
      this.readFunction,
      this.archiverFunction,
      this.alerterFunction,
      this.monitorFunction,
    ];
    const alarms = [
      this.api.serverErrorsAlarm,
      ...functions.map((fn) => fn.errorsAlarm),
      this.archiverStream.iteratorAgeAlarm,
      this.archiverStream.failureQueue.alarm,
      this.alerterStream.iteratorAgeAlarm,
      this.alerterStream.failureQueue.alarm,
      this.alerts.deadLetters.alarm,
      this.monitor.violationsAlarm,
      this.monitor.monitorErrorsAlarm,
      this.monitor.notRunningAlarm,
    ];
    this.alerts.notifyOn(...alarms);
    this.dashboard = new OperationsDashboard(this, 'Operations', {
      dashboardName: `audit-trail-${stageName}`,
      api: this.api,
      ingest: this.ingestFunction,
      archiver: this.archiverFunction,
      alerter: this.alerterFunction,
      consumers: { archiver: this.archiverStream, alerter: this.alerterStream },
      monitor: this.monitor,
      alerts: this.alerts,
      queries: this.queries,
      functions,
      alarms,
    });

    const exported = (name: string, value: string, description: string) =>
      new CfnOutput(this, name, { value, description, exportName: `${this.stackName}-${name}` });
    exported('ApiUrl', this.api.url, 'Base URL of the audit trail API (SigV4)');
    exported('WriterPolicyArn', this.policies.writer.managedPolicyArn, 'Attach to roles that record events');
    exported('ReaderPolicyArn', this.policies.reader.managedPolicyArn, 'Attach to roles that query events');
    exported('AuditorPolicyArn', this.policies.auditor.managedPolicyArn, 'Attach to auditors: every GET');
    exported(
      'AuditorQueryPolicyArn',
      this.queries.queryPolicy.managedPolicyArn,
      'Attach to auditors: Athena queries in the workgroup, archive read (every tenant)',
    );
    exported(
      'LegalHoldPolicyArn',
      this.legalHoldPolicy.managedPolicyArn,
      'Attach to whoever places legal holds on archived objects (s3:PutObjectLegalHold)',
    );
    exported('AlertTopicArn', this.alerts.topic.topicArn, 'SNS topic of alerts and alarms (subscribe here)');
    exported(
      'EventBusName',
      this.alerts.bus.eventBusName,
      'Audit bus: Audit Event Recorded, Integrity Violation',
    );
    exported('AthenaWorkGroup', this.queries.workGroupName, 'Athena workgroup of the compliance reports');
    exported('GlueDatabase', this.queries.databaseName, 'Glue database holding the audit_events table');
    exported('DashboardName', `audit-trail-${stageName}`, 'CloudWatch dashboard of the stage');
  }
}
