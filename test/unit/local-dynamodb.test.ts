import { describe, expect, it } from 'vitest';
import {
  LEDGER_INDEX_PROJECTION,
  LEDGER_INDEXES,
  LEDGER_KEYS,
  LEDGER_TTL_ATTRIBUTE,
} from '#core/ledger-layout.ts';
import {
  assertJava,
  JAVA_INSTALL_HINT,
  JavaNotFoundError,
  ledgerTableDefinition,
  ledgerTimeToLiveDefinition,
} from '../../local/services/dynamodb.ts';

describe('ledgerTableDefinition', () => {
  const definition = ledgerTableDefinition('ledger');

  it('keys the table by the layout partition and sort keys', () => {
    expect(definition.KeySchema).toEqual([
      { AttributeName: LEDGER_KEYS.partitionKey, KeyType: 'HASH' },
      { AttributeName: LEDGER_KEYS.sortKey, KeyType: 'RANGE' },
    ]);
  });

  it('creates every layout index with the layout projection', () => {
    const indexes = Object.values(LEDGER_INDEXES).map((index) => ({
      IndexName: index.indexName,
      KeySchema: [
        { AttributeName: index.partitionKey.name, KeyType: 'HASH' },
        { AttributeName: index.sortKey.name, KeyType: 'RANGE' },
      ],
      Projection: {
        ProjectionType: LEDGER_INDEX_PROJECTION.type,
        NonKeyAttributes: [...LEDGER_INDEX_PROJECTION.nonKeyAttributes],
      },
    }));
    expect(definition.GlobalSecondaryIndexes).toEqual(indexes);
  });

  it('defines each key attribute once with its layout type', () => {
    const expected = new Map<string, string>([
      [LEDGER_KEYS.partitionKey, 'S'],
      [LEDGER_KEYS.sortKey, 'S'],
    ]);
    for (const index of Object.values(LEDGER_INDEXES)) {
      expected.set(index.partitionKey.name, index.partitionKey.type);
      expected.set(index.sortKey.name, index.sortKey.type);
    }
    expect(definition.AttributeDefinitions).toEqual(
      [...expected].map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType })),
    );
  });

  it('is on-demand with a NEW_IMAGE stream', () => {
    expect(definition).toMatchObject({
      TableName: 'ledger',
      BillingMode: 'PAY_PER_REQUEST',
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' },
    });
  });

  it('turns TTL on for the layout attribute', () => {
    expect(ledgerTimeToLiveDefinition('ledger').TimeToLiveSpecification).toEqual({
      Enabled: true,
      AttributeName: LEDGER_TTL_ATTRIBUTE,
    });
  });
});

describe('assertJava', () => {
  it('fails with install instructions when java cannot be run', () => {
    expect(() => assertJava('/nonexistent/bin/java')).toThrow(JavaNotFoundError);
    expect(() => assertJava('/nonexistent/bin/java')).toThrow(JAVA_INSTALL_HINT);
  });
});
