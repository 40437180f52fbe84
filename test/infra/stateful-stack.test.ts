import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { LEDGER_INDEX_PROJECTION, LEDGER_INDEXES, LEDGER_KEYS, LEDGER_TTL_ATTRIBUTE } from '#core/ledger-layout.ts';
import { StatefulStack } from '../../lib/stacks/stateful-stack.ts';
import { devConfig, newApp } from './support.ts';

// No functions in this stack, so no bundling: each synth takes milliseconds.
const synthStateful = (signingKeySpec: 'ECC_NIST_P256' | 'RSA_2048') => {
  const stack = new StatefulStack(newApp(), 'Stateful', {
    stageName: 'dev',
    config: devConfig({ signingKeySpec }),
  });
  return { stack, template: Template.fromStack(stack) };
};
const { stack, template } = synthStateful('ECC_NIST_P256');

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
      Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...LEDGER_INDEX_PROJECTION.nonKeyAttributes] },
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

  it('outputs the signing key ARN, its alias and the table name', () => {
    template.hasOutput('SigningKeyArn', { Value: stack.resolve(stack.signingKey.keyArn) });
    template.hasOutput('SigningKeyAlias', { Value: 'alias/audit-trail/dev/checkpoint-signing' });
    template.hasOutput('LedgerTableName', { Value: stack.resolve(stack.ledger.tableName) });
  });

  it('contains only the keys, the alias and the table', () => {
    const types = Object.values(template.toJSON().Resources as Record<string, { Type: string }>)
      .map((r) => r.Type)
      .filter((type) => type !== 'AWS::CDK::Metadata')
      .sort();
    expect(types).toEqual(['AWS::DynamoDB::Table', 'AWS::KMS::Alias', 'AWS::KMS::Key', 'AWS::KMS::Key']);
  });
});
