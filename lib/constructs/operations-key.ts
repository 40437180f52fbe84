import { Aws, aws_iam as iam, type aws_kms as kms } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { retainedEncryptionKey } from './encryption-key.ts';

/** What a sender to an SSE-KMS queue or topic needs on its key (the service generates and decrypts data keys). */
export const SEND_ENCRYPTED_KEY_ACTIONS = ['kms:GenerateDataKey', 'kms:Decrypt'] as const;

/**
 * The customer-managed key of the operational messages: the alert topic, the alert rules' dead-letter
 * queue and the stream consumers' on-failure queues. Its key policy lets the two AWS services that send
 * to them without an IAM role use it, as SNS and EventBridge document: CloudWatch (alarm actions) and
 * EventBridge (rule targets, dead-letter queues). Functions get IAM grants through `grantSendVia`.
 */
export class OperationsKey extends Construct {
  readonly key: kms.Key;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.key = retainedEncryptionKey(this, 'Audit trail alerts topic and failure queues encryption');
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsAndEventBridgeToSendEncryptedMessages',
        principals: [
          new iam.ServicePrincipal('cloudwatch.amazonaws.com'),
          new iam.ServicePrincipal('events.amazonaws.com'),
        ],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
  }

  get keyArn(): string {
    return this.key.keyArn;
  }

  /** kms:GenerateDataKey and kms:Decrypt on this key, only through `service` (`sqs` or `sns`). */
  grantSendVia(grantee: iam.IGrantable, service: 'sqs' | 'sns'): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: [...SEND_ENCRYPTED_KEY_ACTIONS],
      resourceArns: [this.key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `${service}.${Aws.REGION}.amazonaws.com` } },
    });
  }
}
