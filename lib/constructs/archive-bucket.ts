import {
  Aws,
  Duration,
  aws_iam as iam,
  type aws_kms as kms,
  RemovalPolicy,
  aws_s3 as s3,
  Validations,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { ENV } from '#core/env-names.ts';
import type { IBindableFunction } from './bindable.ts';
import { retainedEncryptionKey } from './encryption-key.ts';
import { attributeFor, grantWithWildcards } from './grant-helpers.ts';

export interface ArchiveBucketProps {
  /**
   * Days each object version is locked (Object Lock, COMPLIANCE mode: nobody, root included, can delete or
   * overwrite it or shorten the lock).
   * @default 365
   */
  readonly retentionDays?: number;
  /**
   * Days after which current and noncurrent versions move to `coldStorageClass`.
   * @default 90
   */
  readonly coldStorageAfterDays?: number;
  /**
   * The colder storage class. Glacier Instant Retrieval keeps millisecond reads, so Athena, the monitor and
   * `audit-trail verify` work on old data without a restore.
   * @default s3.StorageClass.GLACIER_INSTANT_RETRIEVAL
   */
  readonly coldStorageClass?: s3.StorageClass;
  /**
   * Days the server access logs (who read or wrote which object) are kept.
   * @default 365
   */
  readonly accessLogExpirationDays?: number;
  /**
   * Prefixes of working state that is overwritten in place (the monitor's progress). Their superseded
   * versions are expired once their lock has ended; everything else is kept for good.
   * @default ['monitor/']
   */
  readonly workingStatePrefixes?: readonly string[];
  /**
   * Customer-managed key for the archive's default encryption (SSE-KMS with an S3 Bucket Key).
   * @default - a new symmetric key with yearly rotation, retained on stack deletion
   */
  readonly encryptionKey?: kms.IKey;
}

const DEFAULT_PROPS = {
  retentionDays: 365,
  coldStorageAfterDays: 90,
  coldStorageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
  accessLogExpirationDays: 365,
  workingStatePrefixes: ['monitor/'],
} as const;

/** Object actions of each grant (KMS actions are added per grant, always through S3). */
export const ARCHIVE_WRITE_ACTIONS = ['s3:PutObject'] as const;
export const ARCHIVE_READ_OBJECT_ACTIONS = ['s3:GetObject'] as const;
export const ARCHIVE_LIST_ACTIONS = ['s3:ListBucket'] as const;
export const LEGAL_HOLD_ACTIONS = ['s3:PutObjectLegalHold', 's3:GetObjectLegalHold'] as const;
/** SSE-KMS puts need a data key; reads need to decrypt it. Multipart uploads (unused) would also need Decrypt. */
export const ARCHIVE_KEY_WRITE_ACTIONS = ['kms:GenerateDataKey'] as const;
export const ARCHIVE_KEY_READ_ACTIONS = ['kms:Decrypt'] as const;

const wholeDays = (name: string, value: number, min = 1) => {
  if (!Number.isInteger(value) || value < min || value > 36_500) {
    throw new Error(`${name} must be a whole number of days from ${min} to 36500, got ${value}`);
  }
};

const WRITE_REASON =
  'Object keys under one archive prefix: the archiver writes new objects named by log and leaf range, so the key is only known at runtime. Put only: no read, no delete, and Object Lock (COMPLIANCE) makes every version immutable.';
const READ_REASON =
  'Object keys under the archive (or one prefix of it): readers verify or query objects whose keys (log, leaf range, date) are only known at runtime. Get only.';
const LEGAL_HOLD_REASON =
  'A legal hold is placed on whichever archived objects a case needs; the keys are only known at that time. Legal hold actions only.';

/**
 * The Object Lock archive: every record, checkpoint and public key, immutable for `retentionDays`
 * (COMPLIANCE mode), versioned, encrypted with a customer-managed key (S3 Bucket Key on, so one KMS call
 * per bucket key instead of per object), TLS 1.2+ only, never public, retained on stack deletion. Server
 * access logs go to a separate bucket without Object Lock (S3 refuses a log target with default retention),
 * encrypted S3-managed (log delivery cannot use SSE-KMS), TLS-only, and expired after
 * `accessLogExpirationDays`. Layout: `#core/archive-layout.ts`.
 *
 * Nothing is ever deleted from the archive itself: after the lock ends, objects stay (in the colder class)
 * until a team decides otherwise; only superseded versions of working state are expired.
 */
export class ArchiveBucket extends Construct {
  readonly bucket: s3.Bucket;
  readonly encryptionKey: kms.IKey;
  /** Receives the server access logs of the archive (and of other buckets given to it). */
  readonly accessLogsBucket: s3.Bucket;
  readonly retentionDays: number;

  constructor(scope: Construct, id: string, props: ArchiveBucketProps = {}) {
    super(scope, id);
    const p = { ...DEFAULT_PROPS, ...props };
    wholeDays('retentionDays', p.retentionDays);
    wholeDays('coldStorageAfterDays', p.coldStorageAfterDays);
    wholeDays('accessLogExpirationDays', p.accessLogExpirationDays);
    for (const prefix of p.workingStatePrefixes) {
      if (!/^[A-Za-z0-9._-]+\/$/.test(prefix))
        throw new Error(`workingStatePrefixes must be top-level prefixes like "monitor/", got ${prefix}`);
    }
    this.retentionDays = p.retentionDays;

    this.encryptionKey =
      p.encryptionKey ?? retainedEncryptionKey(this, 'Audit trail archive (Object Lock bucket) encryption');

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        {
          id: 'expire-access-logs',
          expiration: Duration.days(p.accessLogExpirationDays),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This bucket is the server access log target of the archive and query results buckets; logging it to itself would loop and logging it elsewhere only moves the question to another bucket.',
    });

    this.bucket = new s3.Bucket(this, 'Bucket', {
      objectLockEnabled: true,
      objectLockDefaultRetention: s3.ObjectLockRetention.compliance(Duration.days(p.retentionDays)),
      versioned: true,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.encryptionKey,
      bucketKeyEnabled: true,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'archive/',
      lifecycleRules: [
        {
          id: 'cold-storage',
          transitions: [
            { storageClass: p.coldStorageClass, transitionAfter: Duration.days(p.coldStorageAfterDays) },
          ],
          noncurrentVersionTransitions: [
            { storageClass: p.coldStorageClass, transitionAfter: Duration.days(p.coldStorageAfterDays) },
          ],
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
        // Locked versions cannot expire before their lock ends; S3 removes them after.
        ...p.workingStatePrefixes.map((prefix) => ({
          id: `expire-superseded-${prefix.replace(/\/$/, '')}`,
          prefix,
          noncurrentVersionExpiration: Duration.days(p.retentionDays + 1),
        })),
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  get bucketName(): string {
    return this.bucket.bucketName;
  }

  get bucketArn(): string {
    return this.bucket.bucketArn;
  }

  /**
   * s3:PutObject only, on keys under each of `prefixes` (default: the whole bucket), plus
   * kms:GenerateDataKey on the archive key through S3. Object Lock's default retention applies to every
   * put, so no s3:PutObjectRetention is needed (or granted).
   */
  grantArchiveWrite(grantee: iam.IGrantable, prefixes: readonly string[] = ['']): iam.Grant {
    const arn = attributeFor(grantee, this, this.bucketArn);
    return grantWithWildcards(
      {
        grantee,
        actions: [...ARCHIVE_WRITE_ACTIONS],
        resourceArns: prefixes.map((prefix) => `${arn}/${checkedPrefix(prefix)}*`),
      },
      WRITE_REASON,
    ).combine(this.grantKey(grantee, ARCHIVE_KEY_WRITE_ACTIONS));
  }

  /**
   * s3:GetObject on keys under `prefix` (default: the whole bucket) and s3:ListBucket on the bucket
   * (limited to that prefix when one is given), plus kms:Decrypt on the archive key through S3.
   */
  grantArchiveRead(grantee: iam.IGrantable, prefix = ''): iam.Grant {
    const arn = attributeFor(grantee, this, this.bucketArn);
    const list = iam.Grant.addToPrincipal({
      grantee,
      actions: [...ARCHIVE_LIST_ACTIONS],
      resourceArns: [arn],
      ...(prefix === ''
        ? {}
        : { conditions: { StringLike: { 's3:prefix': [`${checkedPrefix(prefix)}*`] } } }),
    });
    return grantWithWildcards(
      {
        grantee,
        actions: [...ARCHIVE_READ_OBJECT_ACTIONS],
        resourceArns: [`${arn}/${checkedPrefix(prefix)}*`],
      },
      READ_REASON,
    )
      .combine(list)
      .combine(this.grantKey(grantee, ARCHIVE_KEY_READ_ACTIONS));
  }

  /**
   * Placing and reading legal holds on archived object versions (s3:PutObjectLegalHold,
   * s3:GetObjectLegalHold). A legal hold keeps a version beyond its retention until it is removed; it needs
   * no KMS access. Removing one is the same action, so give this to the few who decide holds.
   */
  grantLegalHold(grantee: iam.IGrantable): iam.Grant {
    const arn = attributeFor(grantee, this, this.bucketArn);
    return grantWithWildcards(
      { grantee, actions: [...LEGAL_HOLD_ACTIONS], resourceArns: [`${arn}/*`] },
      LEGAL_HOLD_REASON,
    );
  }

  /**
   * Sets ARCHIVE_BUCKET_NAME on the function and grants `write` (put under `writePrefixes`), `read`
   * (get and list everything) or `readWrite` (both).
   */
  bindTo(
    fn: IBindableFunction,
    access: 'write' | 'read' | 'readWrite',
    writePrefixes: readonly string[] = [''],
  ): iam.Grant {
    fn.addEnvironment(ENV.archiveBucket, this.bucketName);
    if (access === 'write') return this.grantArchiveWrite(fn, writePrefixes);
    if (access === 'read') return this.grantArchiveRead(fn);
    return this.grantArchiveRead(fn).combine(this.grantArchiveWrite(fn, writePrefixes));
  }

  /** The archive key, usable only through S3 (kms:ViaService), never directly. */
  private grantKey(grantee: iam.IGrantable, actions: readonly string[]): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: [...actions],
      resourceArns: [this.encryptionKey.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
    });
  }
}

/** '' (the whole bucket) or `a/`, `a/b/`: a key prefix ending in "/", without a leading "/" or "*". */
function checkedPrefix(prefix: string): string {
  if (prefix !== '' && !/^[A-Za-z0-9._=-]+\/([A-Za-z0-9._=-]+\/)*$/.test(prefix)) {
    throw new Error(
      `archive prefixes look like "events/" or "monitor/state/", got ${JSON.stringify(prefix)}`,
    );
  }
  return prefix;
}
