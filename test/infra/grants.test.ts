import { aws_iam as iam, aws_lambda as lambda, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildAlertRules } from '#core/alert-rules.ts';
import { ENV } from '#core/env-names.ts';
import { ArchiveBucket } from '../../lib/constructs/archive-bucket.ts';
import { AuditAlerts } from '../../lib/constructs/audit-alerts.ts';
import { FUNCTION_RUNTIME } from '../../lib/constructs/audit-function.ts';
import { AuditQueries } from '../../lib/constructs/audit-queries.ts';
import { FailureQueue } from '../../lib/constructs/failure-queue.ts';
import { LedgerTable } from '../../lib/constructs/ledger-table.ts';
import { OperationsKey } from '../../lib/constructs/operations-key.ts';
import { QueryResultsBucket } from '../../lib/constructs/query-results-bucket.ts';
import { SigningKey } from '../../lib/constructs/signing-key.ts';
import { grantedPermissions, logicalIdOf, newApp, permissions } from './support.ts';

/** A fresh stack with the construct under test and one grantee (a role, or an inline function). */
function fixture(keySpec: 'ECC_NIST_P256' | 'RSA_2048' = 'ECC_NIST_P256') {
  const stack = new Stack(newApp(), 'Test');
  const signingKey = new SigningKey(stack, 'SigningKey', { keySpec });
  const ledger = new LedgerTable(stack, 'Ledger');
  const role = new iam.Role(stack, 'Grantee', { assumedBy: new iam.AccountRootPrincipal() });
  const fn = new lambda.Function(stack, 'Fn', {
    runtime: FUNCTION_RUNTIME,
    handler: 'index.handler',
    code: lambda.Code.fromInline('export const handler = async () => {};'),
  });
  const granted = (grantee: 'role' | 'fn') => {
    const template = Template.fromStack(stack);
    const roleId =
      grantee === 'role'
        ? stack.getLogicalId(role.node.defaultChild as iam.CfnRole)
        : logicalIdOf(template, 'AWS::IAM::Role', 'FnServiceRole');
    return { template, lines: grantedPermissions(template, stack.resolve(roleId)) };
  };
  const viaDynamoDb = { StringEquals: { 'kms:ViaService': `dynamodb.${stack.region}.amazonaws.com` } };
  const indexArns = ['byTime', 'byActor', 'byResource'].map((name) => `${ledger.tableArn}/index/${name}`);
  return { stack, signingKey, ledger, role, fn, granted, viaDynamoDb, indexArns };
}

const envOf = (template: Template) =>
  Object.values(template.findResources('AWS::Lambda::Function'))[0]!.Properties.Environment
    .Variables as Record<string, unknown>;

describe('SigningKey grants', () => {
  it('grantSign grants exactly kms:Sign on the key, with its signing algorithm only', () => {
    const { stack, signingKey, role, granted } = fixture();
    signingKey.grantSign(role);
    expect(granted('role').lines).toEqual(
      permissions(stack, ['kms:Sign'], [signingKey.keyArn], {
        StringEquals: { 'kms:SigningAlgorithm': 'ECDSA_SHA_256' },
      }),
    );
  });

  it('grantGetPublicKey grants exactly kms:GetPublicKey on the key', () => {
    const { stack, signingKey, role, granted } = fixture();
    signingKey.grantGetPublicKey(role);
    expect(granted('role').lines).toEqual(permissions(stack, ['kms:GetPublicKey'], [signingKey.keyArn]));
  });

  it("bindTo(fn, 'sign') sets SIGNING_KEY_ID to the key ARN and SIGNING_ALGORITHM, and grants Sign + GetPublicKey", () => {
    const { stack, signingKey, fn, granted } = fixture();
    signingKey.bindTo(fn);
    const { template, lines } = granted('fn');
    expect(lines).toEqual(
      [
        ...permissions(stack, ['kms:Sign'], [signingKey.keyArn], {
          StringEquals: { 'kms:SigningAlgorithm': 'ECDSA_SHA_256' },
        }),
        ...permissions(stack, ['kms:GetPublicKey'], [signingKey.keyArn]),
      ].sort(),
    );
    expect(envOf(template)).toEqual({
      [ENV.signingKey]: stack.resolve(signingKey.keyArn),
      [ENV.signingAlgorithm]: 'ECDSA_SHA_256',
    });
  });

  it("bindTo(fn, 'publicKey') grants GetPublicKey only", () => {
    const { stack, signingKey, fn, granted } = fixture();
    signingKey.bindTo(fn, 'publicKey');
    expect(granted('fn').lines).toEqual(permissions(stack, ['kms:GetPublicKey'], [signingKey.keyArn]));
  });

  it('binds RSA keys to RSASSA_PKCS1_V1_5_SHA_256 in both the env var and the Sign condition', () => {
    const { stack, signingKey, fn, granted } = fixture('RSA_2048');
    signingKey.bindTo(fn);
    const { template, lines } = granted('fn');
    expect(envOf(template)[ENV.signingAlgorithm]).toBe('RSASSA_PKCS1_V1_5_SHA_256');
    expect(lines).toContain(
      permissions(stack, ['kms:Sign'], [signingKey.keyArn], {
        StringEquals: { 'kms:SigningAlgorithm': 'RSASSA_PKCS1_V1_5_SHA_256' },
      })[0],
    );
  });

  it('rejects an alias in the AWS-reserved namespace', () => {
    expect(() => new SigningKey(new Stack(), 'Key', { aliasName: 'alias/aws/signing' })).toThrow(
      'aliasName must be alias/<letters, digits, /, _ or -> and not alias/aws/..., got alias/aws/signing',
    );
  });
});

describe('LedgerTable grants', () => {
  it('grantAppend grants exactly the item actions of the ingest transaction on the table, and the table key via DynamoDB', () => {
    const { stack, ledger, role, granted, viaDynamoDb } = fixture();
    ledger.grantAppend(role);
    expect(granted('role').lines).toEqual(
      [
        ...permissions(
          stack,
          [
            'dynamodb:BatchGetItem',
            'dynamodb:ConditionCheckItem',
            'dynamodb:GetItem',
            'dynamodb:PutItem',
            'dynamodb:Query',
            'dynamodb:UpdateItem',
          ],
          [ledger.tableArn],
        ),
        ...permissions(
          stack,
          ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'],
          [ledger.encryptionKey.keyArn],
          viaDynamoDb,
        ),
      ].sort(),
    );
  });

  it('grantReadEvents grants GetItem/BatchGetItem on the table, Query on the table and each GSI, and decrypt via DynamoDB', () => {
    const { stack, ledger, role, granted, viaDynamoDb, indexArns } = fixture();
    ledger.grantReadEvents(role);
    expect(granted('role').lines).toEqual(
      [
        ...permissions(stack, ['dynamodb:GetItem', 'dynamodb:BatchGetItem'], [ledger.tableArn]),
        ...permissions(stack, ['dynamodb:Query'], [ledger.tableArn, ...indexArns]),
        ...permissions(stack, ['kms:Decrypt', 'kms:DescribeKey'], [ledger.encryptionKey.keyArn], viaDynamoDb),
      ].sort(),
    );
  });

  it('grants never include Scan, DeleteItem, wildcards or index/*', () => {
    const { ledger, role, granted } = fixture();
    ledger.grantAppend(role);
    ledger.grantReadEvents(role);
    for (const line of granted('role').lines) {
      expect(line).not.toMatch(/dynamodb:(Scan|DeleteItem|BatchWriteItem)|\*|index\/\*/);
    }
  });

  it("bindTo(fn, 'append') sets LEDGER_TABLE_NAME and grants what grantAppend grants", () => {
    const bound = fixture();
    bound.ledger.bindTo(bound.fn, 'append');
    const direct = fixture();
    direct.ledger.grantAppend(direct.fn);
    const { template, lines } = bound.granted('fn');
    expect(lines).toEqual(direct.granted('fn').lines);
    expect(envOf(template)).toEqual({ [ENV.ledgerTable]: bound.stack.resolve(bound.ledger.tableName) });
  });

  it("bindTo(fn, 'read') sets LEDGER_TABLE_NAME and grants what grantReadEvents grants, no writes", () => {
    const bound = fixture();
    bound.ledger.bindTo(bound.fn, 'read');
    const direct = fixture();
    direct.ledger.grantReadEvents(direct.fn);
    const { template, lines } = bound.granted('fn');
    expect(lines).toEqual(direct.granted('fn').lines);
    expect(lines.join('\n')).not.toMatch(/PutItem|UpdateItem|ConditionCheckItem|kms:Encrypt/);
    expect(envOf(template)).toEqual({ [ENV.ledgerTable]: bound.stack.resolve(bound.ledger.tableName) });
  });

  it('rejects a PITR recovery period over 35 days', () => {
    expect(() => new LedgerTable(new Stack(), 'Ledger', { recoveryPeriodDays: 36 })).toThrow(
      'recoveryPeriodDays must be a whole number from 1 to 35, got 36',
    );
  });
});

/** The issue-4 constructs in one stack, with a role and an inline function as grantees. */
function opsFixture() {
  const base = fixture();
  const { stack } = base;
  const archive = new ArchiveBucket(stack, 'Archive');
  const results = new QueryResultsBucket(stack, 'Results', {
    serverAccessLogsBucket: archive.accessLogsBucket,
  });
  const operationsKey = new OperationsKey(stack, 'OperationsKey');
  const failures = new FailureQueue(stack, 'Failures', { encryptionKey: operationsKey, purpose: 'test' });
  const alerts = new AuditAlerts(stack, 'Alerts', {
    stageName: 'test',
    rules: buildAlertRules({}),
    encryptionKey: operationsKey,
  });
  const queries = new AuditQueries(stack, 'Queries', {
    stageName: 'test',
    archive,
    results,
    tenants: ['platform'],
  });
  const viaS3 = { StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` } };
  const viaSqs = { StringEquals: { 'kms:ViaService': `sqs.${stack.region}.amazonaws.com` } };
  const objects = (suffix: string) => `${archive.bucketArn}/${suffix}`;
  return { ...base, archive, results, operationsKey, failures, alerts, queries, viaS3, viaSqs, objects };
}

describe('LedgerTable grants for the stream consumers and the monitor', () => {
  it('grantSetExpiry grants exactly dynamodb:UpdateItem on the table, and the table key via DynamoDB', () => {
    const { stack, ledger, role, granted, viaDynamoDb } = fixture();
    ledger.grantSetExpiry(role);
    expect(granted('role').lines).toEqual(
      [
        ...permissions(stack, ['dynamodb:UpdateItem'], [ledger.tableArn]),
        ...permissions(
          stack,
          ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'],
          [ledger.encryptionKey.keyArn],
          viaDynamoDb,
        ),
      ].sort(),
    );
  });

  it('grantReadLog grants GetItem, BatchGetItem and Query on the table only (no index, no write)', () => {
    const { stack, ledger, role, granted, viaDynamoDb } = fixture();
    ledger.grantReadLog(role);
    expect(granted('role').lines).toEqual(
      [
        ...permissions(
          stack,
          ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'],
          [ledger.tableArn],
        ),
        ...permissions(stack, ['kms:Decrypt', 'kms:DescribeKey'], [ledger.encryptionKey.keyArn], viaDynamoDb),
      ].sort(),
    );
  });

  it('grantStreamRead grants the four stream actions on this stream only, and decrypt via DynamoDB', () => {
    const { stack, ledger, role, granted, viaDynamoDb } = fixture();
    ledger.grantStreamRead(role);
    expect(granted('role').lines).toEqual(
      [
        ...permissions(
          stack,
          [
            'dynamodb:DescribeStream',
            'dynamodb:GetRecords',
            'dynamodb:GetShardIterator',
            'dynamodb:ListStreams',
          ],
          [ledger.tableStreamArn],
        ),
        ...permissions(stack, ['kms:Decrypt', 'kms:DescribeKey'], [ledger.encryptionKey.keyArn], viaDynamoDb),
      ].sort(),
    );
  });

  it.each([
    ['setExpiry', 'grantSetExpiry'],
    ['readLog', 'grantReadLog'],
  ] as const)("bindTo(fn, '%s') sets LEDGER_TABLE_NAME and grants what %s grants", (access, method) => {
    const bound = fixture();
    bound.ledger.bindTo(bound.fn, access);
    const direct = fixture();
    direct.ledger[method](direct.fn);
    const { template, lines } = bound.granted('fn');
    expect(lines).toEqual(direct.granted('fn').lines);
    expect(envOf(template)).toEqual({ [ENV.ledgerTable]: bound.stack.resolve(bound.ledger.tableName) });
  });
});

describe('ArchiveBucket grants', () => {
  it('grantArchiveWrite grants s3:PutObject only, on the given prefixes, and kms:GenerateDataKey via S3', () => {
    const { stack, archive, role, granted, viaS3, objects } = opsFixture();
    archive.grantArchiveWrite(role, ['events/', 'checkpoints/']);
    expect(granted('role').lines).toEqual(
      [
        ...permissions(stack, ['s3:PutObject'], [objects('events/*'), objects('checkpoints/*')]),
        ...permissions(stack, ['kms:GenerateDataKey'], [archive.encryptionKey.keyArn], viaS3),
      ].sort(),
    );
  });

  it('grantArchiveWrite without prefixes grants s3:PutObject on every key, still nothing else', () => {
    const { stack, archive, role, granted, viaS3, objects } = opsFixture();
    archive.grantArchiveWrite(role);
    expect(granted('role').lines).toEqual(
      [
        ...permissions(stack, ['s3:PutObject'], [objects('*')]),
        ...permissions(stack, ['kms:GenerateDataKey'], [archive.encryptionKey.keyArn], viaS3),
      ].sort(),
    );
  });

  it('grantArchiveRead grants s3:GetObject on objects, s3:ListBucket on the bucket and kms:Decrypt via S3', () => {
    const { stack, archive, role, granted, viaS3, objects } = opsFixture();
    archive.grantArchiveRead(role);
    expect(granted('role').lines).toEqual(
      [
        ...permissions(stack, ['s3:GetObject'], [objects('*')]),
        ...permissions(stack, ['s3:ListBucket'], [archive.bucketArn]),
        ...permissions(stack, ['kms:Decrypt'], [archive.encryptionKey.keyArn], viaS3),
      ].sort(),
    );
  });

  it('grantArchiveRead with a prefix limits both the objects and the listing to it', () => {
    const { stack, archive, role, granted, viaS3, objects } = opsFixture();
    archive.grantArchiveRead(role, 'events/');
    expect(granted('role').lines).toEqual(
      [
        ...permissions(stack, ['s3:GetObject'], [objects('events/*')]),
        ...permissions(stack, ['s3:ListBucket'], [archive.bucketArn], {
          StringLike: { 's3:prefix': ['events/*'] },
        }),
        ...permissions(stack, ['kms:Decrypt'], [archive.encryptionKey.keyArn], viaS3),
      ].sort(),
    );
  });

  it('grantLegalHold grants exactly s3:PutObjectLegalHold and s3:GetObjectLegalHold on archived objects', () => {
    const { stack, archive, role, granted, objects } = opsFixture();
    archive.grantLegalHold(role);
    expect(granted('role').lines).toEqual(
      permissions(stack, ['s3:PutObjectLegalHold', 's3:GetObjectLegalHold'], [objects('*')]),
    );
  });

  it('no archive grant can delete, overwrite retention or bypass the lock', () => {
    const { archive, role, granted } = opsFixture();
    archive.grantArchiveWrite(role);
    archive.grantArchiveRead(role);
    archive.grantLegalHold(role);
    for (const line of granted('role').lines) {
      expect(line).not.toMatch(/s3:(Delete|PutObjectRetention|BypassGovernanceRetention|PutBucket|\*)/);
    }
  });

  it.each([
    ['write', ['events/'], (a: ArchiveBucket, fn: lambda.Function) => a.grantArchiveWrite(fn, ['events/'])],
    ['read', undefined, (a: ArchiveBucket, fn: lambda.Function) => a.grantArchiveRead(fn)],
    [
      'readWrite',
      ['monitor/state/'],
      (a: ArchiveBucket, fn: lambda.Function) => {
        a.grantArchiveRead(fn);
        a.grantArchiveWrite(fn, ['monitor/state/']);
      },
    ],
  ] as const)(
    "bindTo(fn, '%s') sets ARCHIVE_BUCKET_NAME and grants the same as the grant methods",
    (access, prefixes, direct) => {
      const bound = opsFixture();
      bound.archive.bindTo(bound.fn, access, prefixes);
      const other = opsFixture();
      direct(other.archive, other.fn);
      const { template, lines } = bound.granted('fn');
      expect(lines).toEqual(other.granted('fn').lines);
      expect(envOf(template)).toEqual({ [ENV.archiveBucket]: bound.stack.resolve(bound.archive.bucketName) });
    },
  );

  it('rejects a write prefix that is not a plain key prefix ending in "/"', () => {
    const { archive, role } = opsFixture();
    expect(() => archive.grantArchiveWrite(role, ['events'])).toThrow(
      'archive prefixes look like "events/" or "monitor/state/", got "events"',
    );
    expect(() => archive.grantArchiveWrite(role, ['*/'])).toThrow('archive prefixes look like');
  });

  it('rejects a retention of zero days', () => {
    expect(() => new ArchiveBucket(new Stack(), 'Archive', { retentionDays: 0 })).toThrow(
      'retentionDays must be a whole number of days from 1 to 36500, got 0',
    );
  });
});

describe('query, queue, key and bus grants', () => {
  it('QueryResultsBucket.grantQueryResults grants result object and bucket actions under results/ and the results key via S3', () => {
    const { stack, results, role, granted, viaS3 } = opsFixture();
    results.grantQueryResults(role);
    expect(granted('role').lines).toEqual(
      [
        ...permissions(
          stack,
          ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
          [`${results.bucket.bucketArn}/results/*`],
        ),
        ...permissions(
          stack,
          ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
          [results.bucket.bucketArn],
        ),
        ...permissions(stack, ['kms:GenerateDataKey', 'kms:Decrypt'], [results.encryptionKey.keyArn], viaS3),
      ].sort(),
    );
  });

  it('FailureQueue.grantSendMessages grants exactly sqs:SendMessage on the queue and the key via SQS', () => {
    const { stack, failures, operationsKey, role, granted, viaSqs } = opsFixture();
    failures.grantSendMessages(role);
    expect(granted('role').lines).toEqual(
      [
        ...permissions(stack, ['sqs:SendMessage'], [failures.queueArn]),
        ...permissions(stack, ['kms:GenerateDataKey', 'kms:Decrypt'], [operationsKey.keyArn], viaSqs),
      ].sort(),
    );
  });

  it('AuditAlerts.bindTo sets EVENT_BUS_NAME and grants exactly events:PutEvents on the audit bus', () => {
    const { stack, alerts, fn, granted } = opsFixture();
    alerts.bindTo(fn);
    const { template, lines } = granted('fn');
    expect(lines).toEqual(permissions(stack, ['events:PutEvents'], [alerts.bus.eventBusArn]));
    expect(envOf(template)).toEqual({ [ENV.eventBus]: stack.resolve(alerts.bus.eventBusName) });
  });

  it('AuditQueries.grantRunQueries grants Athena on the workgroup, Glue reads on the table, archive read and results write', () => {
    const { stack, queries, archive, results, role, granted, viaS3, objects } = opsFixture();
    queries.grantRunQueries(role);
    const glue = (resource: string) =>
      `arn:${stack.partition}:glue:${stack.region}:${stack.account}:${resource}`;
    expect(granted('role').lines).toEqual(
      [
        ...permissions(
          stack,
          [
            'athena:BatchGetNamedQuery',
            'athena:BatchGetQueryExecution',
            'athena:GetNamedQuery',
            'athena:GetQueryExecution',
            'athena:GetQueryResults',
            'athena:GetQueryRuntimeStatistics',
            'athena:GetWorkGroup',
            'athena:ListNamedQueries',
            'athena:ListQueryExecutions',
            'athena:StartQueryExecution',
            'athena:StopQueryExecution',
          ],
          [`arn:${stack.partition}:athena:${stack.region}:${stack.account}:workgroup/audit-trail-test`],
        ),
        ...permissions(
          stack,
          ['glue:GetDatabase', 'glue:GetTable'],
          [glue('catalog'), glue('database/audit_trail_test'), glue('table/audit_trail_test/audit_events')],
        ),
        ...permissions(stack, ['s3:GetBucketLocation', 's3:ListBucket'], [archive.bucketArn]),
        ...permissions(stack, ['s3:GetObject'], [objects('*')]),
        ...permissions(stack, ['kms:Decrypt'], [archive.encryptionKey.keyArn], viaS3),
        ...permissions(
          stack,
          ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
          [`${results.bucket.bucketArn}/results/*`],
        ),
        ...permissions(
          stack,
          ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
          [results.bucket.bucketArn],
        ),
        ...permissions(stack, ['kms:GenerateDataKey', 'kms:Decrypt'], [results.encryptionKey.keyArn], viaS3),
      ].sort(),
    );
  });
});
