import {
  aws_cloudwatch as cloudwatch,
  Duration,
  aws_events as events,
  aws_events_targets as targets,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { ENV } from '#core/env-names.ts';
import type { AuditFunction } from './audit-function.ts';

export interface IntegrityMonitorProps {
  /**
   * The monitor function (`lambdas/handlers/monitor.ts`), already bound to the table (`append`: it records
   * violations in the trail), the signing key (`sign`), the archive and the bus. The construct sets
   * MONITOR_ROLE_ARN: the function's role is the caller of the violation events it records.
   */
  readonly function: AuditFunction;
  /**
   * How often the monitor runs (5 minutes to 1 day, whole minutes).
   * @default Duration.minutes(15)
   */
  readonly interval?: Duration;
}

/** Metrics the monitor handler emits (Powertools Metrics, `lambdas/handlers/monitor.ts`). */
export const MONITOR_METRICS = {
  violations: 'IntegrityViolations',
  archiveLag: 'ArchiveLagWarnings',
  errors: 'MonitorErrors',
  /** Violations recorded in the trail by a run (`integrity.violation` events). */
  recorded: 'ViolationsRecorded',
  /** Violations a run could not record in the trail (they were still published; the logs say why). */
  notRecorded: 'ViolationsNotRecorded',
} as const;

/**
 * Runs the integrity monitor on an EventBridge schedule and watches it: any integrity violation, any log
 * it could not check, and the monitor not running at all (no invocation for three intervals) each raise
 * an alarm. Violations are also published on the audit bus, where the `integrity-violation` rule alerts,
 * and recorded in the affected tenant's trail as `integrity.violation` audit events (the `integrity-alerts`
 * report).
 */
export class IntegrityMonitor extends Construct {
  readonly schedule: events.Rule;
  readonly interval: Duration;
  /** Fires on any IntegrityViolations > 0. */
  readonly violationsAlarm: cloudwatch.Alarm;
  /** Fires when the monitor could not check a log (MonitorErrors > 0). */
  readonly monitorErrorsAlarm: cloudwatch.Alarm;
  /** Fires when the monitor has not run for three intervals. */
  readonly notRunningAlarm: cloudwatch.Alarm;
  private readonly fn: AuditFunction;

  constructor(scope: Construct, id: string, props: IntegrityMonitorProps) {
    super(scope, id);
    const interval = props.interval ?? Duration.minutes(15);
    const minutes = interval.toMinutes({ integral: false });
    if (!Number.isInteger(minutes) || minutes < 5 || minutes > 1440) {
      throw new Error(`interval must be a whole number of minutes from 5 to 1440, got ${minutes}`);
    }
    this.interval = interval;
    this.fn = props.function;
    props.function.addEnvironment(ENV.monitorRoleArn, props.function.role.roleArn);

    this.schedule = new events.Rule(this, 'Schedule', {
      description: `Runs the audit-trail integrity monitor every ${minutes} minutes`,
      schedule: events.Schedule.rate(interval),
      targets: [
        // A missed run is made up by the next one: retry briefly, never pile runs up.
        new targets.LambdaFunction(props.function.function, {
          retryAttempts: 2,
          maxEventAge: Duration.minutes(Math.min(minutes, 60)),
        }),
      ],
    });

    const over = (metric: cloudwatch.Metric, id: string, description: string) =>
      metric.createAlarm(this, id, {
        alarmDescription: description,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    this.violationsAlarm = over(
      this.metricIntegrityViolations(),
      'ViolationsAlarm',
      'audit-trail integrity monitor: the ledger and the archive disagree or a check failed (an incident: see the Integrity Violation alert and the monitor logs)',
    );
    this.monitorErrorsAlarm = over(
      this.metricMonitorErrors(),
      'MonitorErrorsAlarm',
      'audit-trail integrity monitor: some logs could not be checked (store or archive errors)',
    );
    const window = Duration.minutes(Math.min(minutes * 3, 1440));
    this.notRunningAlarm = props.function.function
      .metricInvocations({ period: window, statistic: 'Sum' })
      .createAlarm(this, 'NotRunningAlarm', {
        alarmDescription: `audit-trail integrity monitor: no run in ${window.toHumanString()}`,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
  }

  /** Violations found per run (sum over one interval). */
  metricIntegrityViolations(): cloudwatch.Metric {
    return this.fn.metric(MONITOR_METRICS.violations, { period: this.interval });
  }

  /** Logs the monitor could not check (sum over one interval). */
  metricMonitorErrors(): cloudwatch.Metric {
    return this.fn.metric(MONITOR_METRICS.errors, { period: this.interval });
  }

  /** Violations a run could not record in the trail (sum over one interval). */
  metricViolationsNotRecorded(): cloudwatch.Metric {
    return this.fn.metric(MONITOR_METRICS.notRecorded, { period: this.interval });
  }

  /** Logs whose archive trails the table beyond the grace period (sum over one interval). */
  metricArchiveLagWarnings(): cloudwatch.Metric {
    return this.fn.metric(MONITOR_METRICS.archiveLag, { period: this.interval });
  }
}
