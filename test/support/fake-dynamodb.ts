import {
  type AttributeValue,
  BatchGetItemCommand,
  type BatchGetItemCommandInput,
  type BatchGetItemCommandOutput,
  type CancellationReason,
  ConditionalCheckFailedException,
  DynamoDBClient,
  DynamoDBServiceException,
  GetItemCommand,
  type GetItemCommandInput,
  type GetItemCommandOutput,
  PutItemCommand,
  type PutItemCommandInput,
  type PutItemCommandOutput,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
  ResourceNotFoundException,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  type TransactWriteItemsCommandInput,
  type TransactWriteItemsCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { LEDGER_INDEX_PROJECTION, LEDGER_INDEXES, LEDGER_KEYS } from '#core/ledger-layout.ts';

/**
 * An in-memory emulation of the DynamoDB commands the ledger adapter sends, faithful where the adapter's
 * correctness depends on it: key conditions (`=`, `begins_with`, `BETWEEN`, comparisons), sort order by
 * UTF-8 bytes / number / bytes, ScanIndexForward, Limit counted before FilterExpression, LastEvaluatedKey
 * whenever Limit stops a page, ExclusiveStartKey, sparse GSIs without consistent reads, BatchGetItem
 * limits, and conditional writes that fail with the SDK's own exception classes
 * (ConditionalCheckFailedException; TransactionCanceledException with one CancellationReason per item).
 * Global secondary indexes hold only the keys and their projected attributes. Requests DynamoDB would
 * refuse (unused or empty expression maps, BETWEEN bounds out of order, a filter on an attribute the index
 * does not project, duplicate keys, items over 400 KB, transactions over 100 items) fail with a
 * ValidationException worded as DynamoDB (Local) words it, so a bug in the adapter cannot hide behind a
 * lenient fake. Anything it does not understand throws rather than guesses.
 */
type Item = Record<string, AttributeValue>;

interface KeySchema {
  readonly partitionKey: string;
  readonly sortKey?: string;
}

/** What a global secondary index holds besides the table's and its own keys. */
export type FakeProjection =
  | { readonly type: 'ALL' }
  | { readonly type: 'KEYS_ONLY' }
  | { readonly type: 'INCLUDE'; readonly nonKeyAttributes: readonly string[] };

export interface FakeIndexDefinition extends KeySchema {
  readonly projection: FakeProjection;
}

export interface FakeTableDefinition extends KeySchema {
  readonly indexes: Readonly<Record<string, FakeIndexDefinition>>;
}

/** The ledger table as `#core/ledger-layout.ts` defines it (keys, indexes and their projection). */
export const LEDGER_TABLE_DEFINITION: FakeTableDefinition = {
  partitionKey: LEDGER_KEYS.partitionKey,
  sortKey: LEDGER_KEYS.sortKey,
  indexes: Object.fromEntries(
    Object.values(LEDGER_INDEXES).map((index) => [
      index.indexName,
      {
        partitionKey: index.partitionKey.name,
        sortKey: index.sortKey.name,
        projection: LEDGER_INDEX_PROJECTION,
      },
    ]),
  ),
};

const MAX_ITEM_BYTES = 400 * 1024;
const MAX_TRANSACTION_ITEMS = 100;
const MAX_TRANSACTION_BYTES = 4 * 1024 * 1024;
const MAX_BATCH_GET_KEYS = 100;

export const validationError = (message: string) =>
  new DynamoDBServiceException({
    name: 'ValidationException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    message,
  });

export class FakeDynamoDb {
  private readonly tables = new Map<string, { definition: FakeTableDefinition; items: Map<string, Item> }>();
  /** Keys held back from the next BatchGetItem responses as UnprocessedKeys (as under throttling). */
  private unprocessed = 0;

  constructor(tables: Readonly<Record<string, FakeTableDefinition>>) {
    for (const [name, definition] of Object.entries(tables))
      this.tables.set(name, { definition, items: new Map() });
  }

  /** The next BatchGetItem answers only all but `count` of its keys, returning the rest as UnprocessedKeys. */
  holdBackNextBatchGet(count: number): void {
    this.unprocessed = count;
  }

  /** Every stored item of a table (copies), for assertions. */
  items(tableName: string): Item[] {
    return [...this.table(tableName).items.values()].map(clone);
  }

  /** One stored item (a copy), or undefined. */
  item(tableName: string, key: Item): Item | undefined {
    const table = this.table(tableName);
    const stored = table.items.get(primaryKey(table.definition, key));
    return stored ? clone(stored) : undefined;
  }

  /** Removes every item (the tables stay). */
  clear(): void {
    for (const table of this.tables.values()) table.items.clear();
  }

  getItem(input: GetItemCommandInput): GetItemCommandOutput {
    const table = this.table(input.TableName);
    checkKey(table.definition, input.Key ?? {});
    const stored = table.items.get(primaryKey(table.definition, input.Key ?? {}));
    return { $metadata: {}, ...(stored ? { Item: clone(stored) } : {}) };
  }

  batchGetItem(input: BatchGetItemCommandInput): BatchGetItemCommandOutput {
    const requests = Object.entries(input.RequestItems ?? {});
    const total = requests.reduce((sum, [, request]) => sum + (request.Keys?.length ?? 0), 0);
    if (total === 0) throw validationError('The requestItems parameter is required for BatchGetItem');
    if (total > MAX_BATCH_GET_KEYS) {
      throw validationError(
        `Too many items requested for the BatchGetItem call (${total} > ${MAX_BATCH_GET_KEYS})`,
      );
    }
    const responses: Record<string, Item[]> = {};
    const unprocessedKeys: NonNullable<BatchGetItemCommandOutput['UnprocessedKeys']> = {};
    for (const [tableName, request] of requests) {
      const table = this.table(tableName);
      const keys = request.Keys ?? [];
      const seen = new Set<string>();
      for (const key of keys) {
        checkKey(table.definition, key);
        const id = primaryKey(table.definition, key);
        if (seen.has(id)) throw validationError('Provided list of item keys contains duplicates');
        seen.add(id);
      }
      const heldBack = Math.min(this.unprocessed, keys.length);
      this.unprocessed -= heldBack;
      const answered = keys.slice(0, keys.length - heldBack);
      if (heldBack > 0)
        unprocessedKeys[tableName] = { ...request, Keys: keys.slice(keys.length - heldBack).map(clone) };
      responses[tableName] = answered.flatMap((key) => {
        const stored = table.items.get(primaryKey(table.definition, key));
        return stored ? [clone(stored)] : [];
      });
    }
    return { $metadata: {}, Responses: responses, UnprocessedKeys: unprocessedKeys };
  }

  putItem(input: PutItemCommandInput): PutItemCommandOutput {
    const table = this.table(input.TableName);
    const item = input.Item ?? {};
    checkItem(table.definition, item);
    const id = primaryKey(table.definition, item);
    const existing = table.items.get(id);
    usedNames(input.ExpressionAttributeNames, [input.ConditionExpression]);
    if (
      input.ConditionExpression &&
      !conditionHolds(input.ConditionExpression, existing, input.ExpressionAttributeNames)
    ) {
      throw new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: { httpStatusCode: 400 },
      });
    }
    table.items.set(id, clone(item));
    return { $metadata: {} };
  }

  transactWriteItems(input: TransactWriteItemsCommandInput): TransactWriteItemsCommandOutput {
    const actions = input.TransactItems ?? [];
    if (actions.length === 0 || actions.length > MAX_TRANSACTION_ITEMS) {
      throw validationError(
        `1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to ${MAX_TRANSACTION_ITEMS}`,
      );
    }
    const targets = new Set<string>();
    let bytes = 0;
    const puts = actions.map((action) => {
      if (!action.Put || action.Update || action.Delete || action.ConditionCheck) {
        throw new Error('FakeDynamoDb: only Put actions are emulated in TransactWriteItems');
      }
      const put = action.Put;
      const table = this.table(put.TableName);
      checkItem(table.definition, put.Item ?? {});
      const id = `${put.TableName}\n${primaryKey(table.definition, put.Item ?? {})}`;
      if (targets.has(id))
        throw validationError('Transaction request cannot include multiple operations on one item');
      targets.add(id);
      bytes += itemBytes(put.Item ?? {});
      usedNames(put.ExpressionAttributeNames, [put.ConditionExpression]);
      return { put, table, key: primaryKey(table.definition, put.Item ?? {}) };
    });
    if (bytes > MAX_TRANSACTION_BYTES)
      throw validationError('Transaction size has exceeded the maximum allowed size of 4 MB');
    const reasons: CancellationReason[] = puts.map(({ put, table, key }) =>
      !put.ConditionExpression ||
      conditionHolds(put.ConditionExpression, table.items.get(key), put.ExpressionAttributeNames)
        ? { Code: 'None' }
        : { Code: 'ConditionalCheckFailed', Message: 'The conditional request failed' },
    );
    if (reasons.some((reason) => reason.Code !== 'None')) {
      throw new TransactionCanceledException({
        message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((r) => r.Code).join(', ')}]`,
        $metadata: { httpStatusCode: 400 },
        CancellationReasons: reasons,
      });
    }
    for (const { put, table, key } of puts) table.items.set(key, clone(put.Item ?? {}));
    return { $metadata: {} };
  }

  query(input: QueryCommandInput): QueryCommandOutput {
    const table = this.table(input.TableName);
    const schema = input.IndexName ? table.definition.indexes[input.IndexName] : table.definition;
    if (!schema) throw validationError(`The table does not have the specified index: ${input.IndexName}`);
    if (input.IndexName && input.ConsistentRead) {
      throw validationError('Consistent reads are not supported on global secondary indexes');
    }
    if (!input.KeyConditionExpression)
      throw validationError('Either the KeyConditions or KeyConditionExpression parameter must be specified');
    if (input.Limit !== undefined && (!Number.isInteger(input.Limit) || input.Limit < 1)) {
      throw validationError('Limit must be greater than or equal to 1');
    }
    const names = input.ExpressionAttributeNames;
    const values = input.ExpressionAttributeValues;
    usedNames(names, [input.KeyConditionExpression, input.FilterExpression, input.ProjectionExpression]);
    usedValues(values, [input.KeyConditionExpression, input.FilterExpression]);
    const condition = parseKeyCondition(input.KeyConditionExpression, names, values);
    if (condition.partitionAttribute !== schema.partitionKey) {
      throw validationError(`Query condition missed key schema element: ${schema.partitionKey}`);
    }
    if (condition.sort && condition.sort.attribute !== schema.sortKey) {
      throw validationError(
        `Query key condition not supported: ${condition.sort.attribute} is not the sort key`,
      );
    }
    const filter = input.FilterExpression ? parseFilter(input.FilterExpression, names, values) : [];
    const keyAttributes = [
      table.definition.partitionKey,
      table.definition.sortKey,
      schema.partitionKey,
      schema.sortKey,
    ].filter((name): name is string => name !== undefined);
    const order = (a: Item, b: Item) =>
      compareValues(a[schema.sortKey ?? ''], b[schema.sortKey ?? '']) ||
      compareValues(a[table.definition.partitionKey], b[table.definition.partitionKey]) ||
      compareValues(a[table.definition.sortKey ?? ''], b[table.definition.sortKey ?? '']);
    const index = input.IndexName ? table.definition.indexes[input.IndexName] : undefined;
    if (index && index.projection.type !== 'ALL') {
      const projected = new Set([
        ...keyAttributes,
        ...(index.projection.type === 'INCLUDE' ? index.projection.nonKeyAttributes : []),
      ]);
      const missing = filter.map((clause) => clause.attribute).filter((name) => !projected.has(name));
      if (missing.length > 0) {
        throw validationError(
          `One or more parameter values were invalid: Secondary index ${input.IndexName} does not project one or more filter attributes: [${missing.join(', ')}]`,
        );
      }
    }
    // A GSI holds only the keys and its projected attributes: its filters and results see nothing else.
    const view = (item: Item): Item => (index ? project(item, keyAttributes, index.projection) : item);
    let matching = [...table.items.values()]
      .filter(
        (item) =>
          item[schema.partitionKey] !== undefined && (!schema.sortKey || item[schema.sortKey] !== undefined),
      )
      .map(view)
      .filter((item) => compareValues(item[schema.partitionKey], condition.partitionValue) === 0)
      .filter((item) => !condition.sort || condition.sort.test(item[condition.sort.attribute]))
      .sort(order);
    if (input.ScanIndexForward === false) matching.reverse();
    if (input.ExclusiveStartKey) {
      const start = input.ExclusiveStartKey;
      for (const name of keyAttributes) {
        if (start[name] === undefined)
          throw validationError(`The provided starting key is invalid: missing ${name}`);
      }
      if (compareValues(start[schema.partitionKey], condition.partitionValue) !== 0) {
        throw validationError(
          'The provided starting key is outside query boundaries based on provided conditions',
        );
      }
      const direction = input.ScanIndexForward === false ? -1 : 1;
      matching = matching.filter((item) => order(item, start) * direction > 0);
    }
    const evaluated = input.Limit === undefined ? matching : matching.slice(0, input.Limit);
    const items = evaluated.filter((item) => filter.every((clause) => clause.test(item)));
    const last = evaluated[evaluated.length - 1];
    const limited = input.Limit !== undefined && evaluated.length === input.Limit && last !== undefined;
    return {
      $metadata: {},
      Items: items.map(clone),
      Count: items.length,
      ScannedCount: evaluated.length,
      ...(limited
        ? { LastEvaluatedKey: Object.fromEntries(keyAttributes.map((name) => [name, clone(last[name]!)])) }
        : {}),
    };
  }

  private table(name: string | undefined) {
    const table = name === undefined ? undefined : this.tables.get(name);
    if (!table) {
      throw new ResourceNotFoundException({
        message: 'Requested resource not found',
        $metadata: { httpStatusCode: 400 },
      });
    }
    return table;
  }
}

/**
 * Mocks every DynamoDBClient (aws-sdk-client-mock stubs the class prototype, so clients a module builds at
 * its top level are covered too) and answers the adapter's commands from a FakeDynamoDb.
 */
export function mockDynamoDb(tables: Readonly<Record<string, FakeTableDefinition>>): {
  db: FakeDynamoDb;
  mock: AwsClientStub<DynamoDBClient>;
} {
  const db = new FakeDynamoDb(tables);
  const mock = mockClient(DynamoDBClient);
  wire(mock, db);
  return { db, mock };
}

/** (Re)installs the fake's handlers on a client mock, e.g. after `mock.reset()`. */
export function wire(mock: AwsClientStub<DynamoDBClient>, db: FakeDynamoDb): void {
  mock.on(GetItemCommand).callsFake((input: GetItemCommandInput) => db.getItem(input));
  mock.on(BatchGetItemCommand).callsFake((input: BatchGetItemCommandInput) => db.batchGetItem(input));
  mock.on(PutItemCommand).callsFake((input: PutItemCommandInput) => db.putItem(input));
  mock
    .on(TransactWriteItemsCommand)
    .callsFake((input: TransactWriteItemsCommandInput) => db.transactWriteItems(input));
  mock.on(QueryCommand).callsFake((input: QueryCommandInput) => db.query(input));
}

// ---------------------------------------------------------------------------------------------------------
// Values, keys and sizes

function clone<T>(value: T): T {
  return structuredClone(value);
}

function project(item: Item, keyAttributes: readonly string[], projection: FakeProjection): Item {
  if (projection.type === 'ALL') return item;
  const kept = new Set([
    ...keyAttributes,
    ...(projection.type === 'INCLUDE' ? projection.nonKeyAttributes : []),
  ]);
  return Object.fromEntries(Object.entries(item).filter(([name]) => kept.has(name)));
}

function scalar(
  value: AttributeValue | undefined,
): { type: 'S' | 'N' | 'B'; value: string | Uint8Array } | undefined {
  if (value?.S !== undefined) return { type: 'S', value: value.S };
  if (value?.N !== undefined) return { type: 'N', value: value.N };
  if (value?.B !== undefined) return { type: 'B', value: value.B };
  return undefined;
}

/** DynamoDB's ordering: strings by UTF-8 bytes, numbers by value, binary by unsigned bytes. */
function compareValues(a: AttributeValue | undefined, b: AttributeValue | undefined): number {
  const x = scalar(a);
  const y = scalar(b);
  if (!x || !y) return x ? 1 : y ? -1 : 0;
  if (x.type !== y.type) return x.type < y.type ? -1 : 1;
  if (x.type === 'N') return Math.sign(Number(x.value) - Number(y.value));
  const bytes = (v: string | Uint8Array) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v));
  return Buffer.compare(bytes(x.value), bytes(y.value));
}

function keyPart(value: AttributeValue | undefined): string {
  const v = scalar(value);
  if (!v) return '';
  return `${v.type}:${typeof v.value === 'string' ? v.value : Buffer.from(v.value).toString('hex')}`;
}

function primaryKey(definition: KeySchema, item: Item): string {
  return `${keyPart(item[definition.partitionKey])}\n${definition.sortKey ? keyPart(item[definition.sortKey]) : ''}`;
}

function checkKey(definition: KeySchema, key: Item): void {
  const expected = [definition.partitionKey, definition.sortKey].filter((name) => name !== undefined);
  const given = Object.keys(key);
  if (given.length !== expected.length || expected.some((name) => !scalar(key[name]))) {
    throw validationError('The provided key element does not match the schema');
  }
}

function checkItem(definition: FakeTableDefinition, item: Item): void {
  for (const name of [definition.partitionKey, definition.sortKey]) {
    if (name !== undefined && !scalar(item[name])) {
      throw validationError(`One or more parameter values were invalid: Missing the key ${name} in the item`);
    }
  }
  for (const [name, value] of Object.entries(item)) {
    if (value.S === '' && isKeyAttribute(definition, name)) {
      throw validationError(
        `One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: ${name}`,
      );
    }
    if (value.N !== undefined && !/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(value.N)) {
      throw validationError(`The parameter cannot be converted to a numeric value: ${value.N}`);
    }
  }
  if (itemBytes(item) > MAX_ITEM_BYTES)
    throw validationError('Item size has exceeded the maximum allowed size');
}

function isKeyAttribute(definition: FakeTableDefinition, name: string): boolean {
  if (name === definition.partitionKey || name === definition.sortKey) return true;
  return Object.values(definition.indexes).some(
    (index) => index.partitionKey === name || index.sortKey === name,
  );
}

/** DynamoDB's item size: attribute name bytes plus value bytes (numbers approximated by their digits). */
function itemBytes(item: Item): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) {
    bytes += Buffer.byteLength(name);
    if (value.S !== undefined) bytes += Buffer.byteLength(value.S);
    else if (value.N !== undefined) bytes += Math.ceil(value.N.replace(/[-.]/g, '').length / 2) + 1;
    else if (value.B !== undefined) bytes += value.B.length;
    else if (value.BOOL !== undefined || value.NULL !== undefined) bytes += 1;
    else bytes += Buffer.byteLength(JSON.stringify(value));
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------------------
// Expressions (the subset the adapter writes; anything else throws)

type Names = Record<string, string> | undefined;
type Values = Record<string, AttributeValue> | undefined;

const NAME = '(#?[A-Za-z_][A-Za-z0-9_]*)';
const VALUE = '(:[A-Za-z0-9_]+)';

function usedNames(names: Names, expressions: (string | undefined)[]): void {
  if (names === undefined) return;
  const keys = Object.keys(names);
  if (keys.length === 0) throw validationError('ExpressionAttributeNames must not be empty');
  const text = expressions.filter(Boolean).join(' ');
  const unused = keys.filter((key) => !new RegExp(`${key}(?![A-Za-z0-9_])`).test(text));
  if (unused.length > 0) {
    throw validationError(
      `Value provided in ExpressionAttributeNames unused in expressions: keys: {${unused.join(', ')}}`,
    );
  }
}

function usedValues(values: Values, expressions: (string | undefined)[]): void {
  if (values === undefined) return;
  const keys = Object.keys(values);
  if (keys.length === 0) throw validationError('ExpressionAttributeValues must not be empty');
  const text = expressions.filter(Boolean).join(' ');
  const unused = keys.filter((key) => !new RegExp(`${key}(?![A-Za-z0-9_])`).test(text));
  if (unused.length > 0) {
    throw validationError(
      `Value provided in ExpressionAttributeValues unused in expressions: keys: {${unused.join(', ')}}`,
    );
  }
}

function resolveName(token: string, names: Names): string {
  if (!token.startsWith('#')) return token;
  const name = names?.[token];
  if (name === undefined)
    throw validationError(
      `An expression attribute name used in the document path is not defined; attribute name: ${token}`,
    );
  return name;
}

function resolveValue(token: string, values: Values): AttributeValue {
  const value = values?.[token];
  if (value === undefined)
    throw validationError(
      `An expression attribute value used in expression is not defined; attribute value: ${token}`,
    );
  return value;
}

interface KeyCondition {
  partitionAttribute: string;
  partitionValue: AttributeValue;
  sort?: { attribute: string; test: (value: AttributeValue | undefined) => boolean };
}

function parseKeyCondition(expression: string, names: Names, values: Values): KeyCondition {
  const match = new RegExp(String.raw`^\s*${NAME}\s*=\s*${VALUE}\s*(?:AND\s+(.+?))?\s*$`, 'i').exec(
    expression,
  );
  if (!match) throw new Error(`FakeDynamoDb: unsupported KeyConditionExpression ${expression}`);
  const condition: KeyCondition = {
    partitionAttribute: resolveName(match[1]!, names),
    partitionValue: resolveValue(match[2]!, values),
  };
  const rest = match[3];
  if (!rest) return condition;
  const beginsWith = new RegExp(String.raw`^begins_with\s*\(\s*${NAME}\s*,\s*${VALUE}\s*\)$`).exec(rest);
  const between = new RegExp(String.raw`^${NAME}\s+BETWEEN\s+${VALUE}\s+AND\s+${VALUE}$`, 'i').exec(rest);
  const compare = new RegExp(String.raw`^${NAME}\s*(=|<=|<|>=|>)\s*${VALUE}$`).exec(rest);
  if (beginsWith) {
    const prefix = resolveValue(beginsWith[2]!, values);
    if (prefix.S === undefined && prefix.B === undefined)
      throw validationError('begins_with takes a string or binary operand');
    condition.sort = {
      attribute: resolveName(beginsWith[1]!, names),
      test: (value) => {
        const v = scalar(value);
        if (!v || v.type === 'N') return false;
        const bytes = Buffer.from(v.value as string | Uint8Array);
        const head = prefix.S !== undefined ? Buffer.from(prefix.S) : Buffer.from(prefix.B!);
        return bytes.subarray(0, head.length).equals(head);
      },
    };
  } else if (between) {
    const low = resolveValue(between[2]!, values);
    const high = resolveValue(between[3]!, values);
    if (compareValues(low, high) > 0) {
      throw validationError(
        'Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound',
      );
    }
    condition.sort = {
      attribute: resolveName(between[1]!, names),
      test: (value) => compareValues(value, low) >= 0 && compareValues(value, high) <= 0,
    };
  } else if (compare) {
    const operand = resolveValue(compare[3]!, values);
    const operator = compare[2]!;
    condition.sort = {
      attribute: resolveName(compare[1]!, names),
      test: (value) => {
        if (value === undefined) return false;
        const c = compareValues(value, operand);
        return operator === '='
          ? c === 0
          : operator === '<'
            ? c < 0
            : operator === '<='
              ? c <= 0
              : operator === '>'
                ? c > 0
                : c >= 0;
      },
    };
  } else {
    throw new Error(`FakeDynamoDb: unsupported sort key condition ${rest}`);
  }
  return condition;
}

/** `a = :x AND #b = :y ...`: equality clauses joined by AND. */
interface FilterClause {
  readonly attribute: string;
  readonly test: (item: Item) => boolean;
}

function parseFilter(expression: string, names: Names, values: Values): FilterClause[] {
  return expression.split(/\s+AND\s+/i).map((clause) => {
    const match = new RegExp(String.raw`^\s*${NAME}\s*=\s*${VALUE}\s*$`).exec(clause);
    if (!match) throw new Error(`FakeDynamoDb: unsupported FilterExpression clause ${clause}`);
    const attribute = resolveName(match[1]!, names);
    const operand = resolveValue(match[2]!, values);
    return {
      attribute,
      test: (item) => item[attribute] !== undefined && compareValues(item[attribute], operand) === 0,
    };
  });
}

/** `attribute_not_exists(x)` / `attribute_exists(x)`, the conditions the adapter writes with. */
function conditionHolds(expression: string, existing: Item | undefined, names: Names): boolean {
  const match = new RegExp(
    String.raw`^\s*(attribute_not_exists|attribute_exists)\s*\(\s*${NAME}\s*\)\s*$`,
  ).exec(expression);
  if (!match) throw new Error(`FakeDynamoDb: unsupported ConditionExpression ${expression}`);
  const present = existing !== undefined && existing[resolveName(match[2]!, names)] !== undefined;
  return match[1] === 'attribute_exists' ? present : !present;
}
