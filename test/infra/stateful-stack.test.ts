import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import {
  LEDGER_INDEX_PROJECTION,
  LEDGER_INDEXES,
  LEDGER_KEYS,
  LEDGER_TTL_ATTRIBUTE,
} from '#core/ledger-layout.ts';
import type { StageConfigInput } from '../../lib/config/schema.ts';
import { StatefulStack } from '../../lib/stacks/stateful-stack.ts';
import { devConfig, newApp } from './support.ts';

// No functions in this stack, so no bundling: each synth takes milliseconds.
const synthStateful = (
  signingKeySpec: 'ECC_NIST_P256' | 'RSA_2048',
  overrides: Partial<StageConfigInput> = {},
) => {
  const stack = new StatefulStack(newApp(), 'Stateful', {
    stageName: 'dev',
    config: devConfig({ signingKeySpec, ...overrides }),
  });
  return { stack, template: Template.fromStack(stack) };
};
const { stack, template } = synthStateful('ECC_NIST_P256');
// biome-ignore lint/suspicious/noExplicitAny: synthesized CloudFormation JSON, checked by the assertions themselves
type Resource = { Type: string; Properties: Record<string, any>; DeletionPolicy?: string };
const resources = template.toJSON().Resources as Record<string, Resource>;
const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as never);
const archiveId = logicalId(stack.archive.bucket);
const logsId = logicalId(stack.archive.accessLogsBucket);
const resultsId = logicalId(stack.queryResults.bucket);
const bucketPolicyOf = (bucketId: string) =>
  Object.values(resources).find(
    (r) => r.Type === 'AWS::S3::BucketPolicy' && r.Properties.Bucket?.Ref === bucketId,
  )!.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>;

describe('stateful stack: signing key', () => {
  it('creates an ECC_NIST_P256 SIGN_VERIFY key by default, retained on deletion', () => {
    template.hasResource('AWS::KMS::Key', {
      Properties: Match.objectLike({
        KeySpec: 'ECC_NIST_P256',
        KeyUsage: 'SIGN_VERIFY',
        PendingWindowInDays: 30,
      }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('creates an RSA_2048 SIGN_VERIFY key when the config selects RSA', () => {
    const rsa = synthStateful('RSA_2048').template;
    rsa.hasResourceProperties('AWS::KMS::Key', { KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' });
    rsa.resourcePropertiesCountIs('AWS::KMS::Key', { KeySpec: 'ECC_NIST_P256' }, 0);
  });

  it('names the key with a per-stage alias', () => {
    template.hasResourceProperties('AWS::KMS::Alias', {
      AliasName: 'alias/audit-trail/dev/checkpoint-signing',
      TargetKeyId: stack.resolve(stack.signingKey.keyArn),
    });
  });
});

describe('stateful stack: ledger table', () => {
  const table = () => Object.values(template.findResources('AWS::DynamoDB::Table'))[0]!.Properties;

  it('creates exactly one table, keyed by the layout constants (pk/sk strings)', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    expect(table().KeySchema).toEqual([
      { AttributeName: LEDGER_KEYS.partitionKey, KeyType: 'HASH' },
      { AttributeName: LEDGER_KEYS.sortKey, KeyType: 'RANGE' },
    ]);
  });

  it('streams NEW_IMAGE, bills on demand, has PITR and deletion protection, and is retained', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: Match.objectLike({
        StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true, RecoveryPeriodInDays: 35 },
        DeletionProtectionEnabled: true,
      }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('expires records through the layout TTL attribute', () => {
    expect(table().TimeToLiveSpecification).toEqual({ AttributeName: LEDGER_TTL_ATTRIBUTE, Enabled: true });
  });

  it('has exactly the GSIs of LEDGER_INDEXES, each projecting only the filter attributes', () => {
    const expected = Object.values(LEDGER_INDEXES).map((index) => ({
      IndexName: index.indexName,
      KeySchema: [
        { AttributeName: index.partitionKey.name, KeyType: 'HASH' },
        { AttributeName: index.sortKey.name, KeyType: 'RANGE' },
      ],
      Projection: {
        ProjectionType: 'INCLUDE',
        NonKeyAttributes: [...LEDGER_INDEX_PROJECTION.nonKeyAttributes],
      },
    }));
    expect(table().GlobalSecondaryIndexes).toEqual(expected);
    const attributeTypes = Object.fromEntries(
      (table().AttributeDefinitions as { AttributeName: string; AttributeType: string }[]).map((a) => [
        a.AttributeName,
        a.AttributeType,
      ]),
    );
    for (const index of Object.values(LEDGER_INDEXES)) {
      expect(attributeTypes[index.partitionKey.name]).toBe(index.partitionKey.type);
      expect(attributeTypes[index.sortKey.name]).toBe(index.sortKey.type);
    }
  });

  it('encrypts with its own customer-managed key that rotates yearly and is retained', () => {
    const keyId = stack.resolve(stack.ledger.encryptionKey.keyArn);
    expect(table().SSESpecification).toEqual({ SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: keyId });
    template.hasResource('AWS::KMS::Key', {
      Properties: Match.objectLike({ EnableKeyRotation: true, KeySpec: Match.absent() }),
      DeletionPolicy: 'Retain',
    });
  });
});

describe('stateful stack', () => {
  it('has termination protection', () => {
    expect(stack.terminationProtection).toBe(true);
  });

  it('outputs the signing key ARN, its alias, the table name and the bucket names', () => {
    template.hasOutput('SigningKeyArn', { Value: stack.resolve(stack.signingKey.keyArn) });
    template.hasOutput('SigningKeyAlias', { Value: 'alias/audit-trail/dev/checkpoint-signing' });
    template.hasOutput('LedgerTableName', { Value: stack.resolve(stack.ledger.tableName) });
    template.hasOutput('ArchiveBucketName', { Value: { Ref: archiveId } });
    template.hasOutput('AccessLogsBucketName', { Value: { Ref: logsId } });
    template.hasOutput('QueryResultsBucketName', { Value: { Ref: resultsId } });
  });

  it('contains only keys, the alias, the table and the buckets with their policies', () => {
    const types = Object.values(resources)
      .map((r) => r.Type)
      .filter((type) => type !== 'AWS::CDK::Metadata')
      .sort();
    expect(types).toEqual([
      'AWS::DynamoDB::Table',
      'AWS::KMS::Alias',
      ...Array(5).fill('AWS::KMS::Key'), // signing, table, archive, query results, operations
      ...Array(3).fill('AWS::S3::Bucket'), // archive, access logs, query results
      ...Array(3).fill('AWS::S3::BucketPolicy'),
    ]);
  });

  it('retains every resource on stack deletion and replacement', () => {
    for (const [id, resource] of Object.entries(resources)) {
      if (
        resource.Type === 'AWS::CDK::Metadata' ||
        resource.Type.endsWith('Policy') ||
        resource.Type === 'AWS::KMS::Alias'
      )
        continue;
      expect({ id, policy: resource.DeletionPolicy }).toEqual({ id, policy: 'Retain' });
    }
  });
});

describe('stateful stack: archive bucket', () => {
  const archive = () => resources[archiveId]!.Properties;

  it('locks every object in COMPLIANCE mode for the configured days and is versioned', () => {
    expect(archive().ObjectLockEnabled).toBe(true);
    expect(archive().ObjectLockConfiguration).toEqual({
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 365 } },
    });
    expect(archive().VersioningConfiguration).toEqual({ Status: 'Enabled' });
  });

  it('takes the retention and cold-storage days from the config', () => {
    const custom = synthStateful('ECC_NIST_P256', {
      archive: { objectLockRetentionDays: 2555, coldStorageAfterDays: 30 },
    }).template;
    custom.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 2555 } },
      },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Id: 'cold-storage',
            Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 30 }],
            NoncurrentVersionTransitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 30 }],
          }),
        ]),
      },
    });
  });

  it('encrypts with its own customer-managed key (rotating, retained) and an S3 Bucket Key', () => {
    const keyArn = stack.resolve(stack.archive.encryptionKey.keyArn);
    expect(archive().BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [
        {
          ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn },
          BucketKeyEnabled: true,
        },
      ],
    });
    const keyId = logicalId(stack.archive.encryptionKey as never);
    expect(resources[keyId]).toMatchObject({
      Properties: { EnableKeyRotation: true },
      DeletionPolicy: 'Retain',
    });
  });

  it('blocks public access, disables ACLs and is retained', () => {
    expect(archive().PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(archive().OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
    expect(resources[archiveId]!.DeletionPolicy).toBe('Retain');
  });

  it('denies every request without TLS, or with TLS below 1.2, in its bucket policy', () => {
    const denies = bucketPolicyOf(archiveId).filter((statement) => statement.Effect === 'Deny');
    expect(denies).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        expect.objectContaining({ Action: 's3:*', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
      ]),
    );
  });

  it('moves current and noncurrent versions to Glacier Instant Retrieval after 90 days and expires only superseded monitor state', () => {
    const rules = archive().LifecycleConfiguration.Rules as Array<Record<string, unknown>>;
    expect(rules).toEqual([
      expect.objectContaining({
        Id: 'cold-storage',
        Status: 'Enabled',
        Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 90 }],
        NoncurrentVersionTransitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 90 }],
      }),
      expect.objectContaining({
        Id: 'expire-superseded-monitor',
        Prefix: 'monitor/',
        NoncurrentVersionExpiration: { NoncurrentDays: 366 },
      }),
    ]);
    for (const rule of rules) expect(rule.ExpirationInDays).toBeUndefined();
  });

  it('logs server access to a separate bucket without Object Lock, encrypted S3-managed, TLS-only, expiring logs', () => {
    expect(archive().LoggingConfiguration).toEqual({
      DestinationBucketName: { Ref: logsId },
      LogFilePrefix: 'archive/',
    });
    const logs = resources[logsId]!.Properties;
    expect(logs.ObjectLockEnabled).toBeUndefined();
    expect(logs.ObjectLockConfiguration).toBeUndefined();
    expect(logs.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
    expect(logs.LifecycleConfiguration.Rules).toEqual([
      expect.objectContaining({ Id: 'expire-access-logs', ExpirationInDays: 365 }),
    ]);
    expect(bucketPolicyOf(logsId)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        // S3 log delivery, limited to this account's archive and results buckets.
        expect.objectContaining({ Effect: 'Allow', Principal: { Service: 'logging.s3.amazonaws.com' } }),
      ]),
    );
  });

  it('rejects a retention that is not a whole number of days', () => {
    expect(() => synthStateful('ECC_NIST_P256', { archive: { objectLockRetentionDays: 0 } })).toThrow(
      'archive.objectLockRetentionDays',
    );
  });
});

describe('stateful stack: query results bucket and operations key', () => {
  it('encrypts query results with their own key, logs access and expires results after 30 days', () => {
    const results = resources[resultsId]!.Properties;
    expect(results.BucketEncryption.ServerSideEncryptionConfiguration[0]).toEqual({
      ServerSideEncryptionByDefault: {
        SSEAlgorithm: 'aws:kms',
        KMSMasterKeyID: stack.resolve(stack.queryResults.encryptionKey.keyArn),
      },
      BucketKeyEnabled: true,
    });
    expect(results.LoggingConfiguration).toEqual({
      DestinationBucketName: { Ref: logsId },
      LogFilePrefix: 'query-results/',
    });
    expect(results.LifecycleConfiguration.Rules).toEqual([
      expect.objectContaining({ Id: 'expire-results', ExpirationInDays: 30 }),
    ]);
    expect(bucketPolicyOf(resultsId)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      ]),
    );
  });

  it('lets CloudWatch alarms and EventBridge use the operations key to send encrypted messages', () => {
    const key = resources[logicalId(stack.operationsKey.key)]!;
    expect(key.Properties.EnableKeyRotation).toBe(true);
    expect(key.Properties.KeyPolicy.Statement).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Effect: 'Allow',
          Principal: { Service: ['cloudwatch.amazonaws.com', 'events.amazonaws.com'] },
          Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        }),
      ]),
    );
  });
});
