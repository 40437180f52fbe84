import type { aws_iam as iam } from 'aws-cdk-lib';

/**
 * What `bindTo` needs from a function: somewhere to put the environment variable and a principal to
 * grant to. `lambda.Function` and `AuditFunction` both qualify.
 */
export interface IBindableFunction extends iam.IGrantable {
  addEnvironment(key: string, value: string): unknown;
}
