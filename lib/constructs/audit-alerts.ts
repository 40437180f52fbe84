import {
  ArnFormat,
  Aws,
  aws_cloudwatch as cloudwatch,
  aws_cloudwatch_actions as cloudwatchActions,
  Duration,
  aws_events as events,
  aws_iam as iam,
  Stack,
  aws_sns as sns,
  aws_sns_subscriptions as subscriptions,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { AlertRule } from '#core/alert-rules.ts';
import { ENV } from '#core/env-names.ts';
import type { IBindableFunction } from './bindable.ts';
import { FailureQueue } from './failure-queue.ts';
import type { OperationsKey } from './operations-key.ts';

export interface AuditAlertsProps {
  /** Part of the bus, topic and rule names: `audit-trail-<stage>…`. */
  readonly stageName: string;
  /** The alert catalogue (`buildAlertRules(config)`): one EventBridge rule each, pattern as-is. */
  readonly rules: readonly AlertRule[];
  /** Encrypts the topic and the rules' dead-letter queue. */
  readonly encryptionKey: OperationsKey;
  /**
   * Email addresses subscribed to the topic (each confirms by the link SNS mails them).
   * @default - none
   */
  readonly emailRecipients?: readonly string[];
  /**
   * How long EventBridge keeps retrying delivery of a matched event to the topic before dead-lettering it.
   * @default Duration.hours(24)
   */
  readonly maxEventAge?: Duration;
}

/** EventBridge rule names: 1-64 of letters, digits, `.`, `-`, `_`. */
const RULE_NAME = /^[A-Za-z0-9._-]{1,64}$/;

export const PUT_EVENTS_ACTIONS = ['events:PutEvents'] as const;

/**
 * Alerting: the audit bus (the alerter and the monitor put entries on it), one rule per catalogue entry
 * (named `audit-trail-<stage>-<rule name>`, pattern exactly the catalogue's, as the sandbox evaluates it),
 * each delivering to the alert topic (SSE-KMS, TLS only, email subscriptions) with retries and a
 * dead-letter queue. Each notification is `{"alert", "severity", "description", "event"}`, `event` being
 * the matched bus entry. CloudWatch alarms notify the same topic (`notifyOn`).
 */
export class AuditAlerts extends Construct {
  readonly bus: events.EventBus;
  readonly topic: sns.Topic;
  /** The rule of each catalogue entry, by catalogue name. */
  readonly rules: Readonly<Record<string, events.Rule>>;
  /** Matched events the topic did not accept after every retry. */
  readonly deadLetters: FailureQueue;

  constructor(scope: Construct, id: string, props: AuditAlertsProps) {
    super(scope, id);
    const maxEventAge = props.maxEventAge ?? Duration.hours(24);
    const prefix = `audit-trail-${props.stageName}`;
    if (props.rules.length === 0) throw new Error('rules must name at least one alert rule');
    const names = new Set<string>();
    for (const rule of props.rules) {
      const name = `${prefix}-${rule.name}`;
      if (!RULE_NAME.test(name)) {
        throw new Error(
          `alert rule name ${name} must be 1-64 letters, digits, ".", "-" or "_" (shorten the rule name ${rule.name})`,
        );
      }
      if (names.has(rule.name)) throw new Error(`alert rule ${rule.name} is defined twice`);
      names.add(rule.name);
    }

    this.bus = new events.EventBus(this, 'Bus', {
      eventBusName: prefix,
      description:
        'Audit trail: Audit Event Recorded and Integrity Violation entries; the alert rules match here',
    });

    this.topic = new sns.Topic(this, 'Topic', {
      topicName: `${prefix}-alerts`,
      displayName: `Audit trail ${props.stageName} alerts`,
      masterKey: props.encryptionKey.key,
      enforceSSL: true,
    });
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowThisAccountsAlarms',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          ArnLike: {
            'aws:SourceArn': Stack.of(this).formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
        },
      }),
    );
    for (const email of props.emailRecipients ?? []) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }

    this.deadLetters = new FailureQueue(this, 'DeadLetters', {
      encryptionKey: props.encryptionKey,
      purpose: 'alerts: matched events the alert topic did not accept',
    });

    const rules: Record<string, events.Rule> = {};
    for (const alert of props.rules) {
      const rule = new events.Rule(this, `Rule-${alert.name}`, {
        ruleName: `${prefix}-${alert.name}`,
        description: `[${alert.severity}] ${alert.description}`.slice(0, 512),
        eventBus: this.bus,
        // The catalogue's pattern verbatim (CloudFormation keys such as detail-type and $or pass through).
        eventPattern: alert.pattern as events.EventPattern,
      });
      rule.addTarget({
        bind: () => ({
          arn: this.topic.topicArn,
          input: new AlertMessage(alert),
          deadLetterConfig: { arn: this.deadLetters.queueArn },
          retryPolicy: { maximumEventAgeInSeconds: maxEventAge.toSeconds(), maximumRetryAttempts: 185 },
          targetResource: this.topic,
        }),
      });
      this.deadLetters.allowSendFromRule(rule);
      rules[alert.name] = rule;
    }
    this.rules = rules;
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowTheAlertRules',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: { ArnEquals: { 'aws:SourceArn': Object.values(rules).map((rule) => rule.ruleArn) } },
      }),
    );
  }

  /** events:PutEvents on the audit bus only. */
  grantPutEvents(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: [...PUT_EVENTS_ACTIONS],
      resourceArns: [this.bus.eventBusArn],
    });
  }

  /** Sets EVENT_BUS_NAME on the function and grants events:PutEvents on the bus. */
  bindTo(fn: IBindableFunction): iam.Grant {
    fn.addEnvironment(ENV.eventBus, this.bus.eventBusName);
    return this.grantPutEvents(fn);
  }

  /** Sends each alarm's ALARM state change to the alert topic. */
  notifyOn(...alarms: cloudwatch.IAlarm[]): void {
    const action = new cloudwatchActions.SnsAction(this.topic);
    for (const alarm of alarms) {
      if (!(alarm instanceof cloudwatch.Alarm)) throw new Error(`cannot add an action to ${alarm.alarmArn}`);
      alarm.addAlarmAction(action);
    }
  }

  /** Matched events the alert rules failed to deliver (AWS/Events FailedInvocations, sum over 5 minutes). */
  metricFailedDeliveries(): cloudwatch.IMetric {
    const metrics = Object.fromEntries(
      Object.values(this.rules).map((rule, i) => [
        `r${i}`,
        new cloudwatch.Metric({
          namespace: 'AWS/Events',
          metricName: 'FailedInvocations',
          dimensionsMap: { RuleName: rule.ruleName, EventBusName: this.bus.eventBusName },
          statistic: 'Sum',
          period: Duration.minutes(5),
        }),
      ]),
    );
    return new cloudwatch.MathExpression({
      expression: Object.keys(metrics).join(' + '),
      usingMetrics: metrics,
      label: 'failed alert deliveries',
      period: Duration.minutes(5),
    });
  }
}

/**
 * `{"alert":…,"severity":…,"description":…,"event":<the matched entry>}`, built by EventBridge's input
 * transformer (`<aws.events.event.json>` is the whole event). `<` and `>` in the texts are escaped so they
 * cannot be read as placeholders.
 */
class AlertMessage extends events.RuleTargetInput {
  constructor(private readonly alert: AlertRule) {
    super();
  }

  bind(_rule: events.IRule): events.RuleTargetInputProperties {
    const text = (value: string) => JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e');
    const { name, severity, description } = this.alert;
    return {
      inputTemplate: `{"alert":${text(name)},"severity":${text(severity)},"description":${text(description)},"event":<aws.events.event.json>}`,
    };
  }
}
