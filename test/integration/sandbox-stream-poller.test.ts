import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type DynamoDbLocal,
  ensureLedgerTable,
  localDynamoDbClientConfig,
  startDynamoDbLocal,
} from '../../local/services/dynamodb.ts';
import { type StreamConsumer, StreamPoller, type StreamPollerOptions } from '../../local/stream-poller.ts';

let dynamo: DynamoDbLocal;
let client: DynamoDBClient;
let workDir: string;
let tableCount = 0;
const pollers: StreamPoller[] = [];

beforeAll(async () => {
  dynamo = await startDynamoDbLocal();
  client = new DynamoDBClient(localDynamoDbClientConfig(dynamo.endpoint));
  workDir = mkdtempSync(join(tmpdir(), 'stream-poller-test-'));
});
afterEach(async () => {
  await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
});
afterAll(async () => {
  client.destroy();
  await dynamo.stop();
  rmSync(workDir, { recursive: true, force: true });
});

/** A fresh ledger table per test, so each test reads only its own stream. */
async function newTable(): Promise<{ table: string; streamArn: string }> {
  const table = `ledger-${++tableCount}`;
  return { table, streamArn: (await ensureLedgerTable(client, table)).streamArn };
}

async function put(table: string, pk: string, extra: Record<string, { S: string } | { B: Uint8Array }> = {}) {
  await client.send(
    new PutItemCommand({ TableName: table, Item: { pk: { S: pk }, sk: { S: 'EVENT' }, ...extra } }),
  );
}

function poller(streamArn: string, consumers: StreamConsumer[], options: Partial<StreamPollerOptions> = {}) {
  const created = new StreamPoller({
    streamArn,
    endpoint: dynamo.endpoint,
    region: 'eu-west-1',
    consumers,
    pollIntervalMs: 50,
    retryBaseDelayMs: 0,
    log: () => {},
    ...options,
  });
  created.start();
  pollers.push(created);
  return created;
}

const pkOf = (record: DynamoDBRecord) => record.dynamodb?.Keys?.pk?.S;

/** A consumer that records each invocation's batch (by pk) and answers with `respond`. */
function recorder(
  name: string,
  respond: (records: DynamoDBRecord[], call: number) => DynamoDBBatchResponse | undefined = () => undefined,
) {
  const batches: string[][] = [];
  const consumer: StreamConsumer = {
    name,
    handler: async (event: DynamoDBStreamEvent) => {
      batches.push(event.Records.map((record) => pkOf(record)!));
      return respond(event.Records, batches.length);
    },
  };
  return { consumer, batches, all: () => batches.flat() };
}

describe('StreamPoller', () => {
  it('delivers inserted items in order as Lambda-shaped records, at most batchSize per invocation', async () => {
    const { table, streamArn } = await newTable();
    for (const n of [1, 2, 3, 4, 5])
      await put(table, `item-${n}`, { blob: { B: new Uint8Array([1, 2, 3]) } });
    const seen: DynamoDBRecord[] = [];
    const sizes: number[] = [];
    const stream = poller(
      streamArn,
      [
        {
          name: 'shape',
          handler: async (event) => {
            sizes.push(event.Records.length);
            seen.push(...event.Records);
          },
        },
      ],
      { batchSize: 2 },
    );
    await stream.waitForIdle();
    expect(seen.map(pkOf)).toEqual(['item-1', 'item-2', 'item-3', 'item-4', 'item-5']);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(2);
    expect(seen[0]).toMatchObject({
      eventName: 'INSERT',
      eventVersion: '1.1',
      eventSource: 'aws:dynamodb',
      awsRegion: 'eu-west-1',
      eventSourceARN: streamArn,
      dynamodb: {
        Keys: { pk: { S: 'item-1' }, sk: { S: 'EVENT' } },
        NewImage: { pk: { S: 'item-1' }, sk: { S: 'EVENT' }, blob: { B: 'AQID' } },
        StreamViewType: 'NEW_IMAGE',
        SequenceNumber: expect.stringMatching(/^\d+$/),
        SizeBytes: expect.any(Number),
        ApproximateCreationDateTime: expect.any(Number),
      },
    });
    expect(seen[0]!.dynamodb).not.toHaveProperty('OldImage');
  });

  it('re-delivers from the first record a handler reports in batchItemFailures', async () => {
    const { table, streamArn } = await newTable();
    for (const n of [1, 2, 3, 4]) await put(table, `item-${n}`);
    const flaky = recorder('partial', (records, call) => {
      const third = records.find((record) => pkOf(record) === 'item-3');
      return call === 1 && third
        ? { batchItemFailures: [{ itemIdentifier: third.dynamodb!.SequenceNumber! }] }
        : undefined;
    });
    const stream = poller(streamArn, [flaky.consumer]);
    await stream.waitForIdle();
    expect(flaky.batches).toEqual([
      ['item-1', 'item-2', 'item-3', 'item-4'],
      ['item-3', 'item-4'],
    ]);
    expect(stream.deadLetters).toEqual([]);
  });

  it('bisects a failing batch and sends only the poison record to the dead letters after the retries', async () => {
    const { table, streamArn } = await newTable();
    for (const n of [1, 2, 3, 4, 5]) await put(table, `item-${n}`);
    const poisoned = recorder('bisect', (records) => {
      if (records.some((record) => pkOf(record) === 'item-4')) throw new Error('cannot handle item-4');
      return undefined;
    });
    const deadLetterFile = join(workDir, 'bisect', 'dead-letters.jsonl');
    const stream = poller(streamArn, [poisoned.consumer], { maxRetryAttempts: 2, deadLetterFile });
    await stream.waitForIdle();
    const handled = poisoned.batches.filter((batch) => !batch.includes('item-4')).flat();
    expect(handled.sort()).toEqual(['item-1', 'item-2', 'item-3', 'item-5']);
    expect(stream.deadLetters).toHaveLength(1);
    expect(stream.deadLetters[0]).toMatchObject({
      consumer: 'bisect',
      attempts: 3,
      error: { message: 'cannot handle item-4' },
    });
    expect(stream.deadLetters[0]!.records.map(pkOf)).toEqual(['item-4']);
    const lines = readFileSync(deadLetterFile, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toEqual([JSON.parse(JSON.stringify(stream.deadLetters[0]))]);
  });

  it('dead-letters a whole failing batch when bisecting is off', async () => {
    const { table, streamArn } = await newTable();
    for (const n of [1, 2]) await put(table, `item-${n}`);
    const failing = recorder('no-bisect', () => {
      throw new Error('always');
    });
    const stream = poller(streamArn, [failing.consumer], { maxRetryAttempts: 1, bisectBatchOnError: false });
    await stream.waitForIdle();
    expect(failing.batches).toEqual([
      ['item-1', 'item-2'],
      ['item-1', 'item-2'],
    ]);
    expect(stream.deadLetters.map((letter) => letter.records.map(pkOf))).toEqual([['item-1', 'item-2']]);
  });

  it('keeps a position per consumer: one consumer failing does not hold the other back', async () => {
    const { table, streamArn } = await newTable();
    for (const n of [1, 2, 3]) await put(table, `item-${n}`);
    const healthy = recorder('healthy');
    const broken = recorder('broken', () => {
      throw new Error('down');
    });
    const stream = poller(streamArn, [healthy.consumer, broken.consumer], { maxRetryAttempts: 0 });
    await stream.waitForIdle();
    expect(healthy.batches).toEqual([['item-1', 'item-2', 'item-3']]);
    expect(stream.deadLetters.every((letter) => letter.consumer === 'broken')).toBe(true);
    expect(stream.deadLetters.flatMap((letter) => letter.records.map(pkOf)).sort()).toEqual([
      'item-1',
      'item-2',
      'item-3',
    ]);
  });

  it('waits for records that a consumer writes back to the table', async () => {
    const { table, streamArn } = await newTable();
    const watcher = recorder('watcher');
    const echo: StreamConsumer = {
      name: 'echo',
      handler: async (event) => {
        if (!event.Records.some((record) => pkOf(record) === 'ping')) return;
        // Answer only after the watcher has had time to go idle, so waiting must span both consumers.
        while (!watcher.all().includes('ping')) await new Promise((wake) => setTimeout(wake, 20));
        await new Promise((wake) => setTimeout(wake, 300));
        await put(table, 'pong');
      },
    };
    // A long poll interval: only waitForIdle's wake-ups make the watcher look again.
    const stream = poller(streamArn, [echo, watcher.consumer], { pollIntervalMs: 5_000 });
    await put(table, 'ping');
    await stream.waitForIdle();
    expect(watcher.all()).toEqual(['ping', 'pong']);
  });

  it('resumes after the saved position when restarted with a positions file', async () => {
    const { table, streamArn } = await newTable();
    const positionsFile = join(workDir, 'positions.json');
    await put(table, 'before-1');
    await put(table, 'before-2');
    const first = recorder('resumable');
    const firstRun = poller(streamArn, [first.consumer], { positionsFile });
    await firstRun.waitForIdle();
    await firstRun.stop();
    await put(table, 'after');
    const second = recorder('resumable');
    await poller(streamArn, [second.consumer], { positionsFile }).waitForIdle();
    expect(first.all()).toEqual(['before-1', 'before-2']);
    expect(second.all()).toEqual(['after']);
  });

  it('starts at new records only with startingPosition LATEST', async () => {
    const { table, streamArn } = await newTable();
    await put(table, 'old');
    const latest = recorder('latest');
    const stream = poller(streamArn, [latest.consumer], { startingPosition: 'LATEST' });
    await stream.waitForIdle();
    await put(table, 'new');
    await stream.waitForIdle();
    expect(latest.all()).toEqual(['new']);
  });

  it('rejects two consumers with the same name', () => {
    const a = recorder('same').consumer;
    expect(
      () => new StreamPoller({ streamArn: 'arn', endpoint: dynamo.endpoint, region: 'x', consumers: [a, a] }),
    ).toThrow(/two stream consumers are named same/);
  });
});
