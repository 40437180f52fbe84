import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { StageConfig } from '../config/schema.ts';
import { ArchiveBucket } from '../constructs/archive-bucket.ts';
import { LedgerTable } from '../constructs/ledger-table.ts';
import { OperationsKey } from '../constructs/operations-key.ts';
import { QueryResultsBucket } from '../constructs/query-results-bucket.ts';
import { SigningKey } from '../constructs/signing-key.ts';

export interface StatefulStackProps extends StackProps {
  readonly stageName: string;
  readonly config: StageConfig;
}

/**
 * Everything that holds data or identity and must outlive any redeploy: the checkpoint signing key, the
 * ledger table, the Object Lock archive (and its access log bucket), the Athena results bucket, and the
 * key of the alert topic and failure queues. Every resource is retained on deletion and the stack has
 * termination protection.
 */
export class StatefulStack extends Stack {
  readonly signingKey: SigningKey;
  readonly ledger: LedgerTable;
  readonly archive: ArchiveBucket;
  readonly queryResults: QueryResultsBucket;
  readonly operationsKey: OperationsKey;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, { terminationProtection: true, ...props });
    const { stageName, config } = props;

    this.signingKey = new SigningKey(this, 'SigningKey', {
      keySpec: config.signingKeySpec,
      aliasName: `alias/audit-trail/${stageName}/checkpoint-signing`,
    });
    this.ledger = new LedgerTable(this, 'Ledger');
    this.archive = new ArchiveBucket(this, 'Archive', {
      retentionDays: config.archive.objectLockRetentionDays,
      coldStorageAfterDays: config.archive.coldStorageAfterDays,
      accessLogExpirationDays: config.archive.accessLogExpirationDays,
    });
    this.queryResults = new QueryResultsBucket(this, 'QueryResults', {
      serverAccessLogsBucket: this.archive.accessLogsBucket,
      expirationDays: config.athena.resultsExpirationDays,
    });
    this.operationsKey = new OperationsKey(this, 'OperationsKey');

    new CfnOutput(this, 'SigningKeyArn', {
      value: this.signingKey.keyArn,
      description: 'Checkpoint signing key',
    });
    new CfnOutput(this, 'SigningKeyAlias', { value: this.signingKey.alias.aliasName });
    new CfnOutput(this, 'LedgerTableName', { value: this.ledger.tableName });
    new CfnOutput(this, 'ArchiveBucketName', {
      value: this.archive.bucketName,
      description:
        'Object Lock archive (COMPLIANCE): events/, checkpoints/, keys/ for audit-trail verify --archive',
    });
    new CfnOutput(this, 'AccessLogsBucketName', {
      value: this.archive.accessLogsBucket.bucketName,
      description: 'Server access logs of the archive and query results buckets',
    });
    new CfnOutput(this, 'QueryResultsBucketName', {
      value: this.queryResults.bucketName,
      description: 'Athena query results (SSE-KMS)',
    });
  }
}
