import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { FullBatchFailureError } from '@aws-lambda-powertools/batch';
import { ConditionalCheckFailedException, DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, type PutObjectCommandInput, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DynamoHotRetention } from '#adapters/dynamo-hot-retention.ts';
import { appendFromItem, eventFromItem, eventToItem } from '#adapters/dynamo-ledger-store.ts';
import { S3ArchiveStore } from '#adapters/s3-archive.ts';
import { checkpointsObjectKey, eventsObjectKey, keyObjectKey, recordTextOf } from '#core/archive-layout.ts';
import {
  parseCheckpointsObject,
  parseEventsObject,
  parseKeyObject,
  readEventsObject,
} from '#core/archiving.ts';
import { canonicalize } from '#core/canonical.ts';
import { toHex } from '#core/merkle.ts';
import { appendToJson } from '#core/wire.ts';
import { createArchiver, type HotRetention } from '../../lambdas/streams/archiver.ts';
import { makeEvent } from '../support/events.ts';
import {
  buildLedger,
  deliverLikeLambda,
  failedSequences,
  insertsOf,
  originOf,
  sequencesOf,
  streamEvent,
  streamRecord,
  TENANT,
} from './stream-fixtures.ts';

const s3 = mockClient(S3Client);
const BUCKET = 'archive';
const codec = { eventFromItem, appendFromItem };
const NOW = new Date('2026-03-01T10:05:00.000Z');

function archiver(options: { hotRetention?: HotRetention } = {}) {
  return createArchiver({
    archive: new S3ArchiveStore(new S3Client({ region: 'eu-west-1' }), BUCKET),
    codec,
    clock: () => NOW,
    ...options,
  });
}

/** PutObject inputs in call order, bodies as bytes. */
const puts = () =>
  s3
    .commandCalls(PutObjectCommand)
    .map((call) => call.args[0].input as PutObjectCommandInput & { Body: Uint8Array });
const putKeys = () => puts().map((put) => put.Key);
const bodyOf = (key: string) => puts().find((put) => put.Key === key)!.Body;

beforeEach(() => {
  s3.reset();
  s3.on(PutObjectCommand).resolves({});
});
afterEach(() => s3.reset());

describe('archiver: objects and their bytes', () => {
  it('writes one events object per contiguous run, one checkpoints object per run of appends, and each key', async () => {
    const ledger = await buildLedger([3, 2]);
    const response = await archiver()(streamEvent(insertsOf(ledger)));
    expect(failedSequences(response)).toEqual([]);
    const origin = originOf();
    expect(putKeys().sort()).toEqual(
      [
        keyObjectKey(ledger.key.keyId),
        checkpointsObjectKey(origin, 0, 5),
        eventsObjectKey(TENANT, '2026-03-01T10:00:00.000Z', origin, 0, 4),
      ].sort(),
    );
    const body = bodyOf(eventsObjectKey(TENANT, '2026-03-01', origin, 0, 4));
    const lines = parseEventsObject(body);
    expect(lines.map((line) => line.leafIndex)).toEqual([0, 1, 2, 3, 4]);
    const texts = gunzipSync(body).toString('utf8').split('\n');
    expect(texts.pop()).toBe('');
    for (const [i, line] of lines.entries()) {
      const event = ledger.events[i]!;
      expect(line).toEqual({
        appendStart: event.appendStart,
        eventId: event.eventId,
        leafHash: toHex(event.leafHash),
        leafIndex: event.leafIndex,
        origin,
        record: JSON.parse(event.record),
      });
      // Each line is the RFC 8785 form of its ArchivedEvent, and its record part is the stored leaf itself.
      const text = texts[i]!;
      expect(text).toBe(canonicalize(JSON.parse(text)));
      const header = text.slice(0, text.indexOf('"record":') + '"record":'.length);
      expect(header).toBe(
        `{"appendStart":${event.appendStart},"eventId":"${event.eventId}","leafHash":"${toHex(event.leafHash)}","leafIndex":${event.leafIndex},"origin":"${origin}","record":`,
      );
      expect(text.slice(header.length, -1)).toBe(event.record);
      expect(text.endsWith('}')).toBe(true);
    }
    expect(readEventsObject(body).map(recordTextOf)).toEqual(ledger.events.map((event) => event.record));
    const checkpoints = parseCheckpointsObject(bodyOf(checkpointsObjectKey(origin, 0, 5)));
    expect(checkpoints).toEqual(ledger.appends.map(appendToJson));
    expect(parseKeyObject(bodyOf(keyObjectKey(ledger.key.keyId)))).toEqual(ledger.key);
  });

  it('sorts lines by leaf index whatever order the stream delivers the records in', async () => {
    const ledger = await buildLedger([4]);
    const records = ledger.events.map((event) => streamRecord({ event })).reverse();
    await archiver()(streamEvent(records));
    const [put] = puts();
    expect(parseEventsObject(put!.Body).map((line) => line.leafIndex)).toEqual([0, 1, 2, 3]);
  });

  it('cuts runs at leaf gaps, at log boundaries and at UTC date boundaries', async () => {
    const ledger = await buildLedger([2]);
    const late = await ledger.ingest([makeEvent('late-1')], {
      receivedAt: new Date('2026-03-02T00:00:01.000Z'),
    });
    const other = await ledger.ingest([makeEvent('other-1'), makeEvent('other-2')], { shard: 1 });
    const records = [...ledger.events.slice(0, 1), ...late.events, ...other.events].map((event) =>
      streamRecord({ event }),
    );
    await archiver()(streamEvent(records));
    expect(putKeys().sort()).toEqual(
      [
        eventsObjectKey(TENANT, '2026-03-01', originOf(0), 0, 0),
        eventsObjectKey(TENANT, '2026-03-02', originOf(0), 2, 2),
        eventsObjectKey(TENANT, '2026-03-01', originOf(1), 0, 1),
      ].sort(),
    );
  });

  it('puts every object with a SHA-256 checksum of exactly its body', async () => {
    const ledger = await buildLedger([3, 1, 2]);
    await archiver()(streamEvent(insertsOf(ledger)));
    expect(puts().length).toBeGreaterThanOrEqual(3);
    for (const put of puts()) {
      expect(put.Bucket).toBe(BUCKET);
      expect(put.ChecksumAlgorithm).toBe('SHA256');
      expect(put.ChecksumSHA256).toBe(createHash('sha256').update(put.Body).digest('base64'));
      // Bytes, not a stream: no aws-chunked encoding, so the checksum travels in a header.
      expect(put.Body).toBeInstanceOf(Uint8Array);
    }
  });

  it('writes the same keys with the same bytes when a batch is redelivered', async () => {
    const ledger = await buildLedger([3, 2]);
    const event = streamEvent(insertsOf(ledger));
    await archiver()(event);
    const first = puts().map((put) => [put.Key, Buffer.from(put.Body).toString('hex')]);
    s3.resetHistory();
    await archiver()(event);
    const second = puts().map((put) => [put.Key, Buffer.from(put.Body).toString('hex')]);
    expect(second).toEqual(first);
  });

  it('gzips with no file name, mtime 0 and a fixed OS byte', async () => {
    const ledger = await buildLedger([2]);
    await archiver()(streamEvent(ledger.events.map((event) => streamRecord({ event }))));
    const body = puts()[0]!.Body;
    expect([...body.subarray(0, 4)]).toEqual([0x1f, 0x8b, 8, 0]); // deflate, no FNAME/FCOMMENT/FEXTRA flags
    expect([...body.subarray(4, 8)]).toEqual([0, 0, 0, 0]);
    expect(body[9]).toBe(0xff);
  });

  it('ignores MODIFY and REMOVE records (TTL updates and expiry) without failing', async () => {
    const ledger = await buildLedger([2]);
    const event = ledger.events[0]!;
    const ttlUpdate = streamRecord(
      { item: { ...eventToItem(event), expiresAt: { N: '1780000000' } } },
      'MODIFY',
    );
    const expiry = streamRecord({ event }, 'REMOVE');
    const response = await archiver()(streamEvent([ttlUpdate, expiry]));
    expect(failedSequences(response)).toEqual([]);
    expect(puts()).toEqual([]);
  });
});

describe('archiver: failures keep every record', () => {
  it('rejects the invocation when its only record is poison, so bisect and retries reach the on-failure destination', async () => {
    const poison = streamRecord({
      item: { pk: { S: `EVENT#${TENANT}#broken` }, sk: { S: 'EVENT' }, record: { S: 'not json' } },
    });
    await expect(archiver()(streamEvent([poison]))).rejects.toBeInstanceOf(FullBatchFailureError);
    expect(puts()).toEqual([]);
  });

  it('fails a poison record and the records after it, and archives those before it', async () => {
    const ledger = await buildLedger([2, 2]);
    const before = ledger.events.slice(0, 2).map((event) => streamRecord({ event }));
    const poison = streamRecord({
      item: { pk: { S: `LOG#${originOf()}` }, sk: { S: 'APPEND#0000000000000009' }, origin: { S: 'x' } },
    });
    const after = ledger.events.slice(2).map((event) => streamRecord({ event }));
    const response = await archiver()(streamEvent([...before, poison, ...after]));
    expect(failedSequences(response)).toEqual(sequencesOf([poison, ...after]));
    expect(putKeys()).toEqual([eventsObjectKey(TENANT, '2026-03-01', originOf(), 0, 1)]);
  });

  it('with bisect and retries, only the poison record reaches the on-failure destination and all others are archived', async () => {
    const ledger = await buildLedger([3, 3]);
    const records = insertsOf(ledger);
    const poison = streamRecord({
      item: { pk: { S: `EVENT#${TENANT}#broken` }, sk: { S: 'EVENT' }, record: { S: '{' } },
    });
    records.splice(4, 0, poison);
    const deadLetters = await deliverLikeLambda((event) => archiver()(event), records);
    expect(sequencesOf(deadLetters)).toEqual(sequencesOf([poison]));
    const archivedLeaves = new Set(
      puts()
        .filter((put) => put.Key!.startsWith('events/'))
        .flatMap((put) => parseEventsObject(put.Body).map((line) => line.leafIndex)),
    );
    expect([...archivedLeaves].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
    const archivedSizes = new Set(
      puts()
        .filter((put) => put.Key!.startsWith('checkpoints/'))
        .flatMap((put) => parseCheckpointsObject(put.Body).map((line) => line.size)),
    );
    expect([...archivedSizes].sort()).toEqual([3, 6]);
  });

  it('reports the failing object\u2019s first record and every later record when S3 fails, and writes nothing after it', async () => {
    const ledger = await buildLedger([2, 2]);
    const origin = originOf();
    const records = [
      ...ledger.events.slice(0, 2).map((event) => streamRecord({ event })), // events 0-1
      streamRecord({ append: ledger.appends[0]! }), // checkpoints 0-2 (first record at index 2)
      streamRecord({ key: ledger.key }),
      ...ledger.events.slice(2).map((event) => streamRecord({ event })),
    ];
    // Events 0-3 form one run; its first record is index 0, so make the checkpoints object fail instead.
    s3.on(PutObjectCommand, { Key: checkpointsObjectKey(origin, 0, 2) }).rejects(new Error('SlowDown'));
    const response = await archiver()(streamEvent(records));
    expect(failedSequences(response)).toEqual(sequencesOf(records.slice(2)));
    expect(putKeys()).toEqual([
      eventsObjectKey(TENANT, '2026-03-01', origin, 0, 3),
      checkpointsObjectKey(origin, 0, 2),
    ]);
  });

  it('fails a record that claims a leaf another record of the batch holds with other content', async () => {
    const ledger = await buildLedger([2]);
    const [first, second] = ledger.events;
    const forged = {
      ...second!,
      eventId: first!.eventId,
      record: first!.record.replace('deployment.apply', 'deployment.forge'),
    };
    const records = [
      streamRecord({ event: first! }),
      streamRecord({ event: second! }),
      streamRecord({ event: { ...forged, leafIndex: 0 } }),
    ];
    const response = await archiver()(streamEvent(records));
    expect(failedSequences(response)).toEqual(sequencesOf(records.slice(2)));
    expect(parseEventsObject(puts()[0]!.Body).map((line) => line.leafIndex)).toEqual([0, 1]);
  });
});

describe('archiver: hot retention', () => {
  function recordingRetention(calls: string[]): HotRetention {
    return {
      days: 30,
      expire: async (events, expiresAt) => {
        calls.push(`expire ${events.map((event) => event.eventId).join(',')} @ ${expiresAt.toISOString()}`);
      },
    };
  }

  it('sets the TTL of archived event records after their object is stored, to now plus the retention', async () => {
    const ledger = await buildLedger([2]);
    const calls: string[] = [];
    s3.on(PutObjectCommand).callsFake((input: PutObjectCommandInput) => {
      calls.push(`put ${input.Key}`);
      return {};
    });
    await archiver({ hotRetention: recordingRetention(calls) })(streamEvent(insertsOf(ledger)));
    const ids = ledger.events.map((event) => event.eventId).join(',');
    const eventsKey = eventsObjectKey(TENANT, '2026-03-01', originOf(), 0, 1);
    expect(calls.indexOf(`put ${eventsKey}`)).toBeGreaterThanOrEqual(0);
    expect(calls.indexOf(`expire ${ids} @ 2026-03-31T10:05:00.000Z`)).toBe(
      calls.indexOf(`put ${eventsKey}`) + 1,
    );
  });

  it('sets no TTL for records whose object could not be stored', async () => {
    const ledger = await buildLedger([2]);
    const calls: string[] = [];
    s3.on(PutObjectCommand).rejects(new Error('InternalError'));
    const response = await archiver({ hotRetention: recordingRetention(calls) })(
      streamEvent([
        ...ledger.events.map((event) => streamRecord({ event })),
        streamRecord({ append: ledger.appends[0]! }),
      ]),
    ).catch((error: unknown) => error);
    expect(response).toBeInstanceOf(FullBatchFailureError);
    expect(calls).toEqual([]);
  });

  it('updates only records that still exist, keeps an existing TTL, and tolerates records already gone', async () => {
    const dynamodb = mockClient(DynamoDBClient);
    dynamodb
      .on(UpdateItemCommand)
      .resolvesOnce({})
      .rejectsOnce(new ConditionalCheckFailedException({ message: 'gone', $metadata: {} }));
    const retention = new DynamoHotRetention(new DynamoDBClient({ region: 'eu-west-1' }), 'ledger', 30, 1);
    await retention.expire(
      [
        { tenant: 'acme', eventId: 'a' },
        { tenant: 'acme', eventId: 'b' },
      ],
      new Date('2026-03-31T10:05:00.000Z'),
    );
    const inputs = dynamodb.commandCalls(UpdateItemCommand).map((call) => call.args[0].input);
    expect(inputs).toHaveLength(2);
    expect(inputs[0]).toMatchObject({
      TableName: 'ledger',
      Key: { pk: { S: 'EVENT#acme#a' }, sk: { S: 'EVENT' } },
      ConditionExpression: 'attribute_exists(pk)',
      UpdateExpression: 'SET #ttl = if_not_exists(#ttl, :ttl)',
      ExpressionAttributeNames: { '#ttl': 'expiresAt' },
      ExpressionAttributeValues: { ':ttl': { N: String(Date.parse('2026-03-31T10:05:00.000Z') / 1000) } },
    });
    dynamodb.restore();
  });

  it('rejects a retention that is not a whole number of days', () => {
    expect(() => new DynamoHotRetention(new DynamoDBClient({ region: 'eu-west-1' }), 'ledger', 0.5)).toThrow(
      /whole number of days/,
    );
  });
});
