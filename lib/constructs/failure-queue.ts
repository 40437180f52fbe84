import {
  aws_cloudwatch as cloudwatch,
  Duration,
  type aws_events as events,
  aws_iam as iam,
  aws_sqs as sqs,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { OperationsKey } from './operations-key.ts';

export interface FailureQueueProps {
  /** Encrypts both queues (SSE-KMS). */
  readonly encryptionKey: OperationsKey;
  /** What ends up here, for the alarm description, e.g. "archiver: stream batches that failed every retry". */
  readonly purpose: string;
  /**
   * Receives of one message (by a replay tool or an operator) before it is parked in the dead-letter queue.
   * @default 10
   */
  readonly maxReceiveCount?: number;
}

/** Longest SQS keeps a message: failures wait two weeks for someone to look. */
const RETENTION = Duration.days(14);

export const SEND_MESSAGE_ACTIONS = ['sqs:SendMessage'] as const;

/**
 * Where failures land for people to look at: an SQS queue (SSE-KMS with the operations key, TLS only,
 * 14 days) with its own dead-letter queue, where a message that a replay tool or an operator received
 * `maxReceiveCount` times without deleting it is parked. One alarm fires as soon as either holds a message.
 */
export class FailureQueue extends Construct {
  readonly queue: sqs.Queue;
  /** The queue's own dead-letter queue. */
  readonly deadLetterQueue: sqs.Queue;
  /** Fires while either queue holds a message. */
  readonly alarm: cloudwatch.Alarm;
  private readonly key: OperationsKey;

  constructor(scope: Construct, id: string, props: FailureQueueProps) {
    super(scope, id);
    const maxReceiveCount = props.maxReceiveCount ?? 10;
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
      throw new Error(`maxReceiveCount must be a whole number from 1 to 1000, got ${maxReceiveCount}`);
    }
    this.key = props.encryptionKey;
    const common = {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.encryptionKey.key,
      dataKeyReuse: Duration.hours(1),
      enforceSSL: true,
      retentionPeriod: RETENTION,
    };
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', common);
    this.queue = new sqs.Queue(this, 'Queue', {
      ...common,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount },
    });
    this.alarm = this.metricMessagesVisible().createAlarm(this, 'Alarm', {
      alarmDescription: `audit-trail ${props.purpose}: messages waiting in the failure queue`,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  get queueArn(): string {
    return this.queue.queueArn;
  }

  /** Messages visible in the queue and its dead-letter queue (maximum over 5 minutes, summed). */
  metricMessagesVisible(): cloudwatch.MathExpression {
    const visible = (queue: sqs.Queue) =>
      queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' });
    // Ids unique per queue pair, so several of these can share one graph.
    const id = `q${this.node.addr.slice(0, 10)}`;
    return new cloudwatch.MathExpression({
      expression: `${id}queued + ${id}parked`,
      usingMetrics: { [`${id}queued`]: visible(this.queue), [`${id}parked`]: visible(this.deadLetterQueue) },
      label: 'failure messages',
      period: Duration.minutes(5),
    });
  }

  /** sqs:SendMessage on the queue and the key through SQS: what a Lambda on-failure destination needs. */
  grantSendMessages(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: [...SEND_MESSAGE_ACTIONS],
      resourceArns: [this.queue.queueArn],
    }).combine(this.key.grantSendVia(grantee, 'sqs'));
  }

  /** Lets EventBridge send this rule's undeliverable events here (the rule target's dead-letter queue). */
  allowSendFromRule(rule: events.IRule): void {
    this.queue.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: [...SEND_MESSAGE_ACTIONS],
        resources: [this.queue.queueArn],
        conditions: { ArnEquals: { 'aws:SourceArn': rule.ruleArn } },
      }),
    );
  }
}
