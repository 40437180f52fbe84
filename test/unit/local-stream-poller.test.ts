import {
  type _Record,
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type Shard,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { StreamPoller } from '../../local/stream-poller.ts';

// Shard behaviour DynamoDB Local rarely shows in a test run (rollover every few hours, expiring
// iterators), driven through a mocked streams client.

const streams = mockClient(DynamoDBStreamsClient);
const pollers: StreamPoller[] = [];
afterEach(async () => {
  await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
  streams.reset();
});

const record = (sequence: string): _Record => ({
  eventID: `id-${sequence}`,
  eventName: 'INSERT',
  eventVersion: '1.1',
  dynamodb: {
    Keys: { pk: { S: `item-${sequence}` } },
    SequenceNumber: sequence,
    StreamViewType: 'NEW_IMAGE',
  },
});

function start(onBatch: (sequences: string[]) => void) {
  const poller = new StreamPoller({
    streamArn: 'arn:stream',
    endpoint: 'http://127.0.0.1:1',
    region: 'us-east-1',
    consumers: [
      {
        name: 'test',
        handler: async (event: DynamoDBStreamEvent) => {
          onBatch(event.Records.map((r) => r.dynamodb!.SequenceNumber!));
        },
      },
    ],
    pollIntervalMs: 10,
  });
  poller.start();
  pollers.push(poller);
  return poller;
}

describe('StreamPoller shards', () => {
  it('reads a closed parent shard to its end before its child', async () => {
    const shards: Shard[] = [
      { ShardId: 'child', ParentShardId: 'parent', SequenceNumberRange: { StartingSequenceNumber: '300' } },
      {
        ShardId: 'parent',
        SequenceNumberRange: { StartingSequenceNumber: '100', EndingSequenceNumber: '200' },
      },
    ];
    streams.on(DescribeStreamCommand).resolves({ StreamDescription: { Shards: shards } });
    streams.on(GetShardIteratorCommand).callsFake((input) => ({ ShardIterator: `${input.ShardId}:0` }));
    streams
      .on(GetRecordsCommand, { ShardIterator: 'parent:0' })
      .resolves({ Records: [record('100')], NextShardIterator: 'parent:1' })
      .on(GetRecordsCommand, { ShardIterator: 'parent:1' })
      .resolves({ Records: [record('200')] }) // no next iterator: closed and fully read
      .on(GetRecordsCommand, { ShardIterator: 'child:0' })
      .resolves({ Records: [record('300')], NextShardIterator: 'child:1' })
      .on(GetRecordsCommand, { ShardIterator: 'child:1' })
      .resolves({ Records: [], NextShardIterator: 'child:1' });
    const batches: string[][] = [];
    await start((sequences) => batches.push(sequences)).waitForIdle();
    expect(batches).toEqual([['100'], ['200'], ['300']]);
  });

  it('gets a fresh iterator after the checkpoint when an iterator expires', async () => {
    streams.on(DescribeStreamCommand).resolves({
      StreamDescription: {
        Shards: [{ ShardId: 'only', SequenceNumberRange: { StartingSequenceNumber: '1' } }],
      },
    });
    streams
      .on(GetShardIteratorCommand, { ShardIteratorType: 'TRIM_HORIZON' })
      .resolves({ ShardIterator: 'first' })
      .on(GetShardIteratorCommand, { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: '1' })
      .resolves({ ShardIterator: 'fresh' });
    streams
      .on(GetRecordsCommand, { ShardIterator: 'first' })
      .resolves({ Records: [record('1')], NextShardIterator: 'stale' })
      .on(GetRecordsCommand, { ShardIterator: 'stale' })
      .rejects(new ExpiredIteratorException({ message: 'Iterator expired', $metadata: {} }))
      .on(GetRecordsCommand, { ShardIterator: 'fresh' })
      .resolves({ Records: [record('2')], NextShardIterator: 'end' })
      .on(GetRecordsCommand, { ShardIterator: 'end' })
      .resolves({ Records: [], NextShardIterator: 'end' });
    const batches: string[][] = [];
    await start((sequences) => batches.push(sequences)).waitForIdle();
    expect(batches).toEqual([['1'], ['2']]);
  });
});
