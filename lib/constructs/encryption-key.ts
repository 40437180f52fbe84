import { Duration, aws_kms as kms, RemovalPolicy } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

/**
 * A customer-managed symmetric key as every stateful resource here uses one: yearly rotation, retained
 * when the stack goes (data it encrypted outlives the stack), and the longest deletion window.
 */
export function retainedEncryptionKey(scope: Construct, description: string): kms.Key {
  return new kms.Key(scope, 'Key', {
    description,
    enableKeyRotation: true,
    removalPolicy: RemovalPolicy.RETAIN,
    pendingWindow: Duration.days(30),
  });
}
