import {
  type AttributeValue,
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactionCanceledException,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { SignedCheckpoint } from '#core/checkpoint.ts';
import {
  appendSortKey,
  eventKey,
  KEYS_PARTITION,
  LEDGER_INDEXES,
  logPartition,
} from '#core/ledger-layout.ts';
import type { Hash } from '#core/merkle.ts';
import {
  AppendConflictError,
  type AppendRecord,
  type EventPage,
  type EventQuery,
  indexFieldsOf,
  type LedgerStore,
  type LogHead,
  type StoredEvent,
} from '#core/ports.ts';
import type { PublicKeyInfo } from '#core/signer.ts';

type Item = Record<string, AttributeValue>;

const MAX_BATCH_GET = 100;

/**
 * The ledger on DynamoDB (see `#core/ledger-layout.ts` for the item kinds). One append is one
 * TransactWriteItems: the append record and every event record, each a put that may not overwrite.
 */
export class DynamoLedgerStore implements LedgerStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async readHead(origin: string): Promise<LogHead> {
    const { Items } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :append)',
        ExpressionAttributeValues: { ':pk': { S: logPartition(origin) }, ':append': { S: 'APPEND#' } },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    const latest = Items?.[0];
    if (!latest) return { origin, size: 0, frontier: [], checkpoint: null };
    const append = appendFromItem(latest);
    return { origin, size: append.size, frontier: append.frontier, checkpoint: append.checkpoint };
  }

  async getEvents(tenant: string, eventIds: readonly string[]): Promise<Map<string, StoredEvent>> {
    const found = new Map<string, StoredEvent>();
    const unique = [...new Set(eventIds)];
    for (let i = 0; i < unique.length; i += MAX_BATCH_GET) {
      let keys: Item[] = unique.slice(i, i + MAX_BATCH_GET).map((id) => keyItem(eventKey(tenant, id)));
      for (let round = 0; keys.length > 0; round++) {
        if (round > 0) await backoff(round);
        const response = await this.client.send(
          new BatchGetItemCommand({
            RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } },
          }),
        );
        for (const item of response.Responses?.[this.tableName] ?? []) {
          const event = eventFromItem(item);
          found.set(event.eventId, event);
        }
        keys = response.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
      }
    }
    return found;
  }

  async commitAppend(append: AppendRecord, events: readonly StoredEvent[]): Promise<void> {
    const notExists = 'attribute_not_exists(pk)';
    try {
      await this.client.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            {
              Put: { TableName: this.tableName, Item: appendToItem(append), ConditionExpression: notExists },
            },
            ...events.map((event) => ({
              Put: { TableName: this.tableName, Item: eventToItem(event), ConditionExpression: notExists },
            })),
          ],
        }),
      );
    } catch (error) {
      if (error instanceof TransactionCanceledException) {
        const reasons = error.CancellationReasons ?? [];
        const duplicate = reasons.slice(1).some((reason) => reason.Code === 'ConditionalCheckFailed');
        // A lost head race, a duplicate id or a clashing concurrent transaction: all are retried from fresh reads.
        throw new AppendConflictError(duplicate ? 'duplicate_event' : 'head_moved', { cause: error });
      }
      throw error;
    }
  }

  async getAppend(origin: string, start: number): Promise<AppendRecord | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { pk: { S: logPartition(origin) }, sk: { S: appendSortKey(start) } },
        ConsistentRead: true,
      }),
    );
    return Item ? appendFromItem(Item) : undefined;
  }

  async listAppends(origin: string, fromStart: number, limit: number) {
    const { Items = [], LastEvaluatedKey } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :last',
        ExpressionAttributeValues: {
          ':pk': { S: logPartition(origin) },
          ':from': { S: appendSortKey(fromStart) },
          ':last': { S: 'APPEND#~' },
        },
        Limit: limit,
        ConsistentRead: true,
      }),
    );
    const appends = Items.map(appendFromItem);
    const last = appends[appends.length - 1];
    return { appends, ...(LastEvaluatedKey && last ? { next: last.size } : {}) };
  }

  async registerKey(key: PublicKeyInfo): Promise<void> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            pk: { S: KEYS_PARTITION },
            sk: { S: key.keyId },
            keyId: { S: key.keyId },
            algorithm: { S: key.algorithm },
            publicKeyPem: { S: key.publicKeyPem },
            registeredAt: { S: new Date().toISOString() },
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      // Already registered: public keys never change for a key id.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  async listKeys(): Promise<PublicKeyInfo[]> {
    const keys: PublicKeyInfo[] = [];
    let start: Item | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': { S: KEYS_PARTITION } },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) {
        keys.push({
          keyId: str(item, 'keyId'),
          algorithm: SignedCheckpoint.shape.algorithm.parse(str(item, 'algorithm')),
          publicKeyPem: str(item, 'publicKeyPem'),
        });
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return keys;
  }

  /** One index page (keys and filter attributes), then the records by key, in the index's order. */
  async queryEvents(query: EventQuery): Promise<EventPage> {
    const input = eventQueryInput(this.tableName, query);
    const { Items = [], LastEvaluatedKey } = await this.client.send(new QueryCommand(input));
    const ids = Items.map((item) => eventFromKey(str(item, 'pk')));
    const events = await this.getEvents(
      query.tenant,
      ids.map((id) => id.eventId),
    );
    // Actor and resource together: byActor does not project gsiResource, so the resource is matched here,
    // after the page's Limit, exactly as a FilterExpression would be.
    const wanted = (event: StoredEvent) =>
      !(query.actor && query.resource) || JSON.parse(event.record).resources?.[0]?.id === query.resource;
    return {
      events: ids.flatMap(({ eventId }) => events.get(eventId) ?? []).filter(wanted),
      ...(LastEvaluatedKey ? { cursor: encodeCursor(LastEvaluatedKey) } : {}),
    };
  }
}

/** Picks the index for the filters (actor, then resource, then time) so a page is one Query, never a Scan. */
export function eventQueryInput(tableName: string, query: EventQuery): QueryCommandInput {
  const { index, partition } = query.actor
    ? { index: LEDGER_INDEXES.byActor, partition: `${query.tenant}#${query.actor}` }
    : query.resource
      ? { index: LEDGER_INDEXES.byResource, partition: `${query.tenant}#${query.resource}` }
      : { index: LEDGER_INDEXES.byTime, partition: query.tenant };
  const values: Item = {
    ':p': { S: partition },
    ':from': { S: query.from ? utc(query.from) : '0' },
    ':to': { S: query.to ? `${utc(query.to)}#~` : '~' },
  };
  const filters: string[] = [];
  const names: Record<string, string> = {};
  if (query.action) {
    filters.push('#action = :action');
    names['#action'] = 'action';
    values[':action'] = { S: query.action };
  }
  if (query.outcome) {
    filters.push('#outcome = :outcome');
    names['#outcome'] = 'outcome';
    values[':outcome'] = { S: query.outcome };
  }
  return {
    TableName: tableName,
    IndexName: index.indexName,
    KeyConditionExpression: `${index.partitionKey.name} = :p AND ${index.sortKey.name} BETWEEN :from AND :to`,
    ExpressionAttributeValues: values,
    ...(filters.length > 0 ? { FilterExpression: filters.join(' AND ') } : {}),
    // DynamoDB rejects an empty ExpressionAttributeNames map.
    ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
    ScanIndexForward: false,
    Limit: query.limit,
    ...(query.cursor
      ? { ExclusiveStartKey: decodeCursor(query.cursor, index.partitionKey.name, partition) }
      : {}),
  };
}

/** Event times are stored as UTC ISO so that the sort key orders them whatever offset the client used. */
const ISO_UTC = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/;
const utc = (time: string) => {
  // Most clients already send UTC: re-spelling it with milliseconds avoids a Date round trip per event.
  const match = ISO_UTC.exec(time);
  if (match) return `${match[1]}.${(match[2] ?? '').padEnd(3, '0').slice(0, 3)}Z`;
  return new Date(time).toISOString();
};

export class InvalidCursorError extends Error {
  override readonly name = 'InvalidCursorError';
}

const encodeCursor = (key: Item) => Buffer.from(JSON.stringify(key)).toString('base64url');

/** A cursor is only accepted for the partition it came from: one tenant can never page into another's. */
function decodeCursor(cursor: string, partitionAttribute: string, partition: string): Item {
  let key: Item;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError('cursor is not one this API returned');
  }
  if (typeof key !== 'object' || key === null || key[partitionAttribute]?.S !== partition) {
    throw new InvalidCursorError('cursor belongs to another query');
  }
  return key;
}

const keyItem = (key: { pk: string; sk: string }): Item => ({ pk: { S: key.pk }, sk: { S: key.sk } });

const concat = (hashes: readonly Hash[]) => Buffer.concat(hashes.map((hash) => Buffer.from(hash)));
const split = (bytes: Uint8Array | undefined, width: number): Uint8Array[] => {
  const parts: Uint8Array[] = [];
  for (let i = 0; bytes && i < bytes.length; i += width) parts.push(bytes.slice(i, i + width));
  return parts;
};

/** UUIDs as 16 raw bytes: an append of 98 events stays within 4 write units. */
const uuidBytes = (id: string) => Buffer.from(id.replaceAll('-', ''), 'hex');
const uuidText = (bytes: Uint8Array) => {
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};

export function appendToItem(append: AppendRecord): Item {
  return {
    pk: { S: logPartition(append.origin) },
    sk: { S: appendSortKey(append.start) },
    tenant: { S: append.tenant },
    origin: { S: append.origin },
    start: { N: String(append.start) },
    size: { N: String(append.size) },
    ...(append.previous ? { previous: { S: JSON.stringify(append.previous) } } : {}),
    previousFrontier: { B: concat(append.previousFrontier) },
    checkpoint: { S: JSON.stringify(append.checkpoint) },
    frontier: { B: concat(append.frontier) },
    eventIds: { B: Buffer.concat(append.eventIds.map(uuidBytes)) },
  };
}

export function appendFromItem(item: Item): AppendRecord {
  const previous = item.previous?.S;
  return {
    origin: str(item, 'origin'),
    tenant: str(item, 'tenant'),
    start: num(item, 'start'),
    size: num(item, 'size'),
    previous: previous ? SignedCheckpoint.parse(JSON.parse(previous)) : null,
    previousFrontier: split(item.previousFrontier?.B, 32),
    checkpoint: SignedCheckpoint.parse(JSON.parse(str(item, 'checkpoint'))),
    frontier: split(item.frontier?.B, 32),
    eventIds: split(item.eventIds?.B, 16).map(uuidText),
  };
}

export function eventToItem(event: StoredEvent): Item {
  const index = event.index ?? indexFieldsOf(JSON.parse(event.record));
  return {
    ...keyItem(eventKey(event.tenant, event.eventId)),
    record: { S: event.record },
    origin: { S: event.origin },
    leafIndex: { N: String(event.leafIndex) },
    appendStart: { N: String(event.appendStart) },
    leafHash: { B: event.leafHash },
    gsiTenant: { S: event.tenant },
    gsiTime: { S: `${utc(index.time)}#${event.eventId}` },
    gsiActor: { S: `${event.tenant}#${index.actorId}` },
    gsiResource: { S: `${event.tenant}#${index.resourceId}` },
    action: { S: index.action },
    outcome: { S: index.outcome },
  };
}

/** Tenant and event id from an event record's partition key `EVENT#<tenant>#<eventId>`. */
export function eventFromKey(pk: string): { tenant: string; eventId: string } {
  const [, tenant = '', eventId = ''] = /^EVENT#([^#]+)#(.+)$/.exec(pk) ?? [];
  return { tenant, eventId };
}

export function eventFromItem(item: Item): StoredEvent {
  const { tenant, eventId } = eventFromKey(str(item, 'pk'));
  return {
    tenant,
    eventId,
    record: str(item, 'record'),
    origin: str(item, 'origin'),
    leafIndex: num(item, 'leafIndex'),
    appendStart: num(item, 'appendStart'),
    leafHash: item.leafHash?.B ?? new Uint8Array(),
  };
}

function str(item: Item, name: string): string {
  const value = item[name]?.S;
  if (value === undefined) throw new Error(`ledger item ${item.pk?.S}/${item.sk?.S} has no ${name}`);
  return value;
}

function num(item: Item, name: string): number {
  const value = item[name]?.N;
  if (value === undefined) throw new Error(`ledger item ${item.pk?.S}/${item.sk?.S} has no ${name}`);
  return Number(value);
}

const backoff = (round: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** round)));
