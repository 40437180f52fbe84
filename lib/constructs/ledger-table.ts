import {
  Aws,
  aws_dynamodb as dynamodb,
  aws_iam as iam,
  type aws_kms as kms,
  RemovalPolicy,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { ENV } from '#core/env-names.ts';
import {
  type AttributeKind,
  LEDGER_INDEX_PROJECTION,
  LEDGER_INDEXES,
  LEDGER_KEYS,
  LEDGER_TTL_ATTRIBUTE,
} from '#core/ledger-layout.ts';
import type { IBindableFunction } from './bindable.ts';
import { retainedEncryptionKey } from './encryption-key.ts';

export interface LedgerTableProps {
  /**
   * Customer-managed KMS key encrypting the table (and its stream and backups).
   * @default - a new symmetric key with yearly rotation, retained on stack deletion
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * Point-in-time recovery window.
   * @default 35 - the maximum
   */
  readonly recoveryPeriodDays?: number;
}

const DEFAULT_PROPS = { recoveryPeriodDays: 35 } as const;

const ATTRIBUTE_TYPES: Record<AttributeKind, dynamodb.AttributeType> = {
  S: dynamodb.AttributeType.STRING,
  N: dynamodb.AttributeType.NUMBER,
  B: dynamodb.AttributeType.BINARY,
};

/** DynamoDB item actions of one ingest transaction (TransactWriteItems is authorized per item action). */
export const APPEND_TABLE_ACTIONS = [
  'dynamodb:ConditionCheckItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:Query',
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
] as const;
/** What the read API needs: item reads on the table, queries on the table and its indexes. Never Scan. */
export const READ_ITEM_ACTIONS = ['dynamodb:GetItem', 'dynamodb:BatchGetItem'] as const;
export const READ_QUERY_ACTIONS = ['dynamodb:Query'] as const;
/** What the archiver needs to start a record's hot-retention clock (SET expiresAt): nothing else. */
export const SET_EXPIRY_ACTIONS = ['dynamodb:UpdateItem'] as const;
/** What the integrity monitor reads: log heads and appends (Query), events and appends by key. No indexes. */
export const READ_LOG_ACTIONS = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'] as const;
/** What a Lambda event source mapping needs on the table's stream. */
export const STREAM_READ_ACTIONS = [
  'dynamodb:DescribeStream',
  'dynamodb:GetRecords',
  'dynamodb:GetShardIterator',
  'dynamodb:ListStreams',
] as const;
/** KMS actions DynamoDB performs with the caller's credentials on a customer-managed table key. */
export const TABLE_KEY_READ_ACTIONS = ['kms:Decrypt', 'kms:DescribeKey'] as const;
export const TABLE_KEY_WRITE_ACTIONS = [
  'kms:Decrypt',
  'kms:DescribeKey',
  'kms:Encrypt',
  'kms:GenerateDataKey',
] as const;

/**
 * The ledger: one DynamoDB table (single-table design) built from `#core/ledger-layout.ts`, the same
 * constants the local sandbox creates its table from.
 *
 * - on-demand, stream NEW_IMAGE (archiver and alerter read it), PITR, deletion protection, retained;
 * - TTL on `expiresAt`, which the archiver sets only after a record is safely in the Object Lock archive;
 * - encrypted with a customer-managed key: the deploying team owns and audits every use of the key
 *   (CloudTrail shows each decrypt), can revoke access in one place, and the same key covers the stream
 *   and PITR backups. AWS owned/managed keys offer neither. Cost: $1/month plus cached-key requests.
 */
export class LedgerTable extends Construct {
  readonly table: dynamodb.Table;
  readonly encryptionKey: kms.IKey;
  /** ARN of each GSI, by index name. */
  readonly indexArns: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: LedgerTableProps = {}) {
    super(scope, id);
    const { recoveryPeriodDays, encryptionKey } = { ...DEFAULT_PROPS, ...props };
    if (!Number.isInteger(recoveryPeriodDays) || recoveryPeriodDays < 1 || recoveryPeriodDays > 35) {
      throw new Error(`recoveryPeriodDays must be a whole number from 1 to 35, got ${recoveryPeriodDays}`);
    }
    this.encryptionKey = encryptionKey ?? retainedEncryptionKey(this, 'Audit trail ledger table encryption');

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: LEDGER_KEYS.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: LEDGER_KEYS.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      stream: dynamodb.StreamViewType.NEW_IMAGE,
      pointInTimeRecoverySpecification: {
        pointInTimeRecoveryEnabled: true,
        recoveryPeriodInDays: recoveryPeriodDays,
      },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
      timeToLiveAttribute: LEDGER_TTL_ATTRIBUTE,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.encryptionKey,
    });
    const indexArns: Record<string, string> = {};
    for (const index of Object.values(LEDGER_INDEXES)) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: { name: index.partitionKey.name, type: ATTRIBUTE_TYPES[index.partitionKey.type] },
        sortKey: { name: index.sortKey.name, type: ATTRIBUTE_TYPES[index.sortKey.type] },
        projectionType: dynamodb.ProjectionType.INCLUDE,
        nonKeyAttributes: [...LEDGER_INDEX_PROJECTION.nonKeyAttributes],
      });
      // Named one by one rather than `index/*`: a grant reaches exactly the indexes that exist.
      indexArns[index.indexName] = `${this.table.tableArn}/index/${index.indexName}`;
    }
    this.indexArns = indexArns;
  }

  get tableName(): string {
    return this.table.tableName;
  }

  get tableArn(): string {
    return this.table.tableArn;
  }

  /** Stream ARN, for the archiver and alerter event sources. */
  get tableStreamArn(): string {
    return this.table.tableStreamArn!;
  }

  /**
   * What one ingest needs: read the log head and earlier copies of the events (Query, GetItem,
   * BatchGetItem), then write the transaction (ConditionCheckItem, PutItem, UpdateItem), on the table only.
   */
  grantAppend(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: [...APPEND_TABLE_ACTIONS],
      resourceArns: [this.tableArn],
    }).combine(this.grantKey(grantee, TABLE_KEY_WRITE_ACTIONS));
  }

  /** Read-only access for the query API: GetItem/BatchGetItem on the table, Query on the table and GSIs. */
  grantReadEvents(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: [...READ_ITEM_ACTIONS],
      resourceArns: [this.tableArn],
    })
      .combine(
        iam.Grant.addToPrincipal({
          grantee,
          actions: [...READ_QUERY_ACTIONS],
          resourceArns: [this.tableArn, ...Object.values(this.indexArns)],
        }),
      )
      .combine(this.grantKey(grantee, TABLE_KEY_READ_ACTIONS));
  }

  /**
   * Exactly dynamodb:UpdateItem on the table (and the table key via DynamoDB): the archiver sets the TTL
   * of event records it has archived. Cannot create (PutItem), delete or read records.
   */
  grantSetExpiry(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: [...SET_EXPIRY_ACTIONS],
      resourceArns: [this.tableArn],
    }).combine(this.grantKey(grantee, TABLE_KEY_WRITE_ACTIONS));
  }

  /**
   * What the integrity monitor needs: GetItem, BatchGetItem and Query on the table only (log heads,
   * appends, events, keys), never an index, never a write; decrypt via DynamoDB.
   */
  grantReadLog(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: [...READ_LOG_ACTIONS],
      resourceArns: [this.tableArn],
    }).combine(this.grantKey(grantee, TABLE_KEY_READ_ACTIONS));
  }

  /**
   * Reading the table's stream, as a Lambda event source mapping does with the function's role:
   * DescribeStream, GetRecords, GetShardIterator and ListStreams on this stream's ARN only, and decrypt
   * via DynamoDB (the stream is encrypted with the table key).
   */
  grantStreamRead(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: [...STREAM_READ_ACTIONS],
      resourceArns: [this.tableStreamArn],
    }).combine(this.grantKey(grantee, TABLE_KEY_READ_ACTIONS));
  }

  /**
   * Sets LEDGER_TABLE_NAME on the function and grants one kind of access: `append` (ingest), `read`
   * (query API), `readLog` (integrity monitor) or `setExpiry` (archiver).
   */
  bindTo(fn: IBindableFunction, access: 'append' | 'read' | 'readLog' | 'setExpiry'): iam.Grant {
    fn.addEnvironment(ENV.ledgerTable, this.tableName);
    switch (access) {
      case 'append':
        return this.grantAppend(fn);
      case 'read':
        return this.grantReadEvents(fn);
      case 'readLog':
        return this.grantReadLog(fn);
      case 'setExpiry':
        return this.grantSetExpiry(fn);
    }
  }

  /** The table key, usable only through DynamoDB (kms:ViaService), never directly. */
  private grantKey(grantee: iam.IGrantable, actions: readonly string[]): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: [...actions],
      resourceArns: [this.encryptionKey.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Aws.REGION}.amazonaws.com` } },
    });
  }
}
