import { aws_cloudwatch as cloudwatch, Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { AuditAlerts } from './audit-alerts.ts';
import type { AuditApi } from './audit-api.ts';
import type { AuditFunction } from './audit-function.ts';
import type { AuditQueries } from './audit-queries.ts';
import type { IntegrityMonitor } from './integrity-monitor.ts';
import type { LedgerStreamConsumer } from './ledger-stream-consumer.ts';

export interface OperationsDashboardProps {
  readonly dashboardName: string;
  readonly api: AuditApi;
  readonly ingest: AuditFunction;
  readonly archiver: AuditFunction;
  readonly alerter: AuditFunction;
  /** The stream consumers, by label ("archiver", "alerter"). */
  readonly consumers: Readonly<Record<string, LedgerStreamConsumer>>;
  readonly monitor: IntegrityMonitor;
  readonly alerts: AuditAlerts;
  readonly queries: AuditQueries;
  /** Every function, for the errors graph. */
  readonly functions: readonly AuditFunction[];
  /** Alarms shown in the status widget. */
  readonly alarms: readonly cloudwatch.IAlarm[];
}

/** Ingest metrics the ingest handler emits (Powertools, `lambdas/handlers/ingest.ts`). */
export const INGEST_METRICS = [
  'eventsAccepted',
  'eventsRejected',
  'eventsAppended',
  'checkpointsSigned',
] as const;

/**
 * One CloudWatch dashboard for the stage: alarm states; ingest (events accepted, rejected, appended,
 * checkpoints signed) and the API; the stream consumers (iterator age, archived objects and events,
 * published alerts, failure queues); integrity (violations, archive lag, monitor errors); function errors
 * and Athena bytes scanned.
 */
export class OperationsDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: OperationsDashboardProps) {
    super(scope, id);
    const graph = (title: string, left: cloudwatch.IMetric[], width = 8) =>
      new cloudwatch.GraphWidget({ title, left, width, height: 6 });
    const api = props.api.api;
    const fiveMinutes = { period: Duration.minutes(5) };

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.hours(24),
    });
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [...props.alarms], width: 24, height: 4 }),
    );
    this.dashboard.addWidgets(
      graph(
        'Ingest',
        INGEST_METRICS.map((name) => props.ingest.metric(name, { label: name })),
      ),
      graph('API responses', [
        api.metricCount({ ...fiveMinutes, label: 'requests' }),
        api.metricClientError({ ...fiveMinutes, label: '4XX' }),
        api.metricServerError({ ...fiveMinutes, label: '5XX' }),
      ]),
      graph('API latency (p99, ms)', [
        api.metricLatency({ ...fiveMinutes, statistic: 'p99', label: 'latency' }),
        api.metricIntegrationLatency({ ...fiveMinutes, statistic: 'p99', label: 'integration' }),
      ]),
    );
    this.dashboard.addWidgets(
      graph(
        'Stream iterator age (max, ms)',
        Object.entries(props.consumers).map(([label, consumer]) =>
          consumer.metricIteratorAge().with({ label }),
        ),
      ),
      graph('Archiver', [
        props.archiver.metric('ArchivedObjects', { label: 'objects' }),
        props.archiver.metric('ArchivedEvents', { label: 'events' }),
        props.archiver.metric('ArchiverFailedRecords', { label: 'failed records' }),
      ]),
      graph('Alerter', [
        props.alerter.metric('AuditEventsPublished', { label: 'published' }),
        props.alerter.metric('AlerterFailedRecords', { label: 'failed records' }),
        props.alerts.metricFailedDeliveries(),
      ]),
    );
    this.dashboard.addWidgets(
      graph('Integrity monitor', [
        props.monitor.metricIntegrityViolations().with({ label: 'violations' }),
        props.monitor.metricArchiveLagWarnings().with({ label: 'archive lag warnings' }),
        props.monitor.metricMonitorErrors().with({ label: 'logs not checked' }),
      ]),
      graph('Failure queues (messages)', [
        ...Object.entries(props.consumers).map(([label, consumer]) =>
          consumer.failureQueue.metricMessagesVisible().with({ label: `${label} on-failure` }),
        ),
        props.alerts.deadLetters.metricMessagesVisible().with({ label: 'alert dead letters' }),
      ]),
      graph('Function errors', [...props.functions.map((fn) => fn.metricErrors({ label: fn.serviceName }))]),
    );
    this.dashboard.addWidgets(
      graph('Athena bytes scanned (per hour)', [props.queries.metricProcessedBytes()], 24),
    );
  }
}
