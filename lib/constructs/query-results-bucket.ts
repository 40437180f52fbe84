import { Aws, Duration, aws_iam as iam, type aws_kms as kms, RemovalPolicy, aws_s3 as s3 } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { retainedEncryptionKey } from './encryption-key.ts';
import { attributeFor, grantWithWildcards } from './grant-helpers.ts';

export interface QueryResultsBucketProps {
  /** Bucket receiving this bucket's server access logs (the archive's log bucket). */
  readonly serverAccessLogsBucket: s3.IBucket;
  /**
   * Days query results are kept. They are copies of audit data, so they should not pile up.
   * @default 30
   */
  readonly expirationDays?: number;
  /**
   * Customer-managed key for the results (the Athena workgroup encrypts with it, SSE_KMS).
   * @default - a new symmetric key with yearly rotation, retained on stack deletion
   */
  readonly encryptionKey?: kms.IKey;
}

/** Where the workgroup writes results, under the bucket. */
export const QUERY_RESULTS_PREFIX = 'results/';

/** What a caller running Athena queries needs on the results location (Athena writes with the caller's credentials). */
export const RESULTS_OBJECT_ACTIONS = [
  's3:GetObject',
  's3:PutObject',
  's3:AbortMultipartUpload',
  's3:ListMultipartUploadParts',
] as const;
export const RESULTS_BUCKET_ACTIONS = [
  's3:GetBucketLocation',
  's3:ListBucket',
  's3:ListBucketMultipartUploads',
] as const;
export const RESULTS_KEY_ACTIONS = ['kms:GenerateDataKey', 'kms:Decrypt'] as const;

/**
 * The Athena query results bucket: SSE-KMS with its own customer-managed key (S3 Bucket Key on), TLS 1.2+
 * only, never public, access-logged, results expired after `expirationDays`. Retained with the stateful stack.
 */
export class QueryResultsBucket extends Construct {
  readonly bucket: s3.Bucket;
  readonly encryptionKey: kms.IKey;

  constructor(scope: Construct, id: string, props: QueryResultsBucketProps) {
    super(scope, id);
    const expirationDays = props.expirationDays ?? 30;
    if (!Number.isInteger(expirationDays) || expirationDays < 1 || expirationDays > 3650) {
      throw new Error(`expirationDays must be a whole number of days from 1 to 3650, got ${expirationDays}`);
    }
    this.encryptionKey =
      props.encryptionKey ?? retainedEncryptionKey(this, 'Audit trail Athena query results encryption');
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.encryptionKey,
      bucketKeyEnabled: true,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: props.serverAccessLogsBucket,
      serverAccessLogsPrefix: 'query-results/',
      lifecycleRules: [
        {
          id: 'expire-results',
          expiration: Duration.days(expirationDays),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  get bucketName(): string {
    return this.bucket.bucketName;
  }

  /** `s3://<bucket>/results/`: the workgroup's output location. */
  get outputLocation(): string {
    return `s3://${this.bucket.bucketName}/${QUERY_RESULTS_PREFIX}`;
  }

  /**
   * Writing and reading query results under `results/` (Athena acts with the caller's credentials), and
   * the results key through S3.
   */
  grantQueryResults(grantee: iam.IGrantable): iam.Grant {
    const arn = attributeFor(grantee, this, this.bucket.bucketArn);
    return grantWithWildcards(
      { grantee, actions: [...RESULTS_OBJECT_ACTIONS], resourceArns: [`${arn}/${QUERY_RESULTS_PREFIX}*`] },
      'Athena names each result object after its query execution id, under the results/ prefix of the results bucket.',
    )
      .combine(
        iam.Grant.addToPrincipal({ grantee, actions: [...RESULTS_BUCKET_ACTIONS], resourceArns: [arn] }),
      )
      .combine(
        iam.Grant.addToPrincipal({
          grantee,
          actions: [...RESULTS_KEY_ACTIONS],
          resourceArns: [this.encryptionKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
        }),
      );
  }
}
