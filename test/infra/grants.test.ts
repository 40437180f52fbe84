import { aws_iam as iam, aws_lambda as lambda, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ENV } from '#core/env-names.ts';
import { FUNCTION_RUNTIME } from '../../lib/constructs/audit-function.ts';
import { LedgerTable } from '../../lib/constructs/ledger-table.ts';
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
