import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryArchiveStore } from '#adapters/directory-archive.ts';
import { S3ArchiveStore } from '#adapters/s3-archive.ts';
import { gzipDeterministic } from '#core/archiving.ts';
import { localS3ClientConfig, type S3Local, startS3Local } from '../../local/services/s3.ts';

const collect = async (keys: AsyncIterable<string>) => {
  const all: string[] = [];
  for await (const key of keys) all.push(key);
  return all;
};

const bytes = (text: string) => new TextEncoder().encode(text);

describe('S3ArchiveStore against s3rver', () => {
  const bucket = 'archive-store-test';
  let s3: S3Local;
  let client: S3Client;
  beforeAll(async () => {
    s3 = await startS3Local({ bucket });
    client = new S3Client(localS3ClientConfig(s3.endpoint));
  });
  afterAll(async () => {
    client.destroy();
    await s3.stop();
  });

  it('stores the exact bytes of a checksummed put (no aws-chunked framing) and reads them back', async () => {
    const store = new S3ArchiveStore(client, bucket);
    const body = gzipDeterministic(bytes('{"leafIndex":0}\n'));
    await store.put('events/tenant=acme/dt=2026-03-01/log-0-0.jsonl.gz', body, 'application/gzip');
    expect(await store.get('events/tenant=acme/dt=2026-03-01/log-0-0.jsonl.gz')).toEqual(body);
  });

  it('answers undefined for a missing object and lists keys in order from a resume point', async () => {
    const store = new S3ArchiveStore(client, bucket);
    expect(await store.get('checkpoints/none')).toBeUndefined();
    for (const key of [
      'checkpoints/log/b',
      'checkpoints/log/a',
      'checkpoints/log/c',
      'checkpoints/other/a',
    ]) {
      await store.put(key, bytes(key), 'application/x-ndjson');
    }
    expect(await collect(store.list('checkpoints/log/'))).toEqual([
      'checkpoints/log/a',
      'checkpoints/log/b',
      'checkpoints/log/c',
    ]);
    expect(await collect(store.list('checkpoints/log/', { startAfter: 'checkpoints/log/a' }))).toEqual([
      'checkpoints/log/b',
      'checkpoints/log/c',
    ]);
  });
});

describe('S3ArchiveStore paging', () => {
  it('follows continuation tokens and sends StartAfter only on the first page', async () => {
    const mock = mockClient(S3Client);
    mock
      .on(ListObjectsV2Command)
      .resolvesOnce({
        Contents: [{ Key: 'k/1' }, { Key: 'k/2' }],
        IsTruncated: true,
        NextContinuationToken: 't1',
      })
      .resolvesOnce({ Contents: [{ Key: 'k/3' }], IsTruncated: false });
    const store = new S3ArchiveStore(new S3Client({ region: 'eu-west-1' }), 'b');
    expect(await collect(store.list('k/', { startAfter: 'k/0' }))).toEqual(['k/1', 'k/2', 'k/3']);
    const inputs = mock.commandCalls(ListObjectsV2Command).map((call) => call.args[0].input);
    expect(inputs).toEqual([
      { Bucket: 'b', Prefix: 'k/', ContinuationToken: undefined, StartAfter: 'k/0' },
      { Bucket: 'b', Prefix: 'k/', ContinuationToken: 't1' },
    ]);
    mock.restore();
  });

  it('maps NoSuchKey to undefined and lets other errors through', async () => {
    const mock = mockClient(S3Client);
    mock.on(GetObjectCommand, { Key: 'missing' }).rejects(new NoSuchKey({ message: 'no', $metadata: {} }));
    mock.on(GetObjectCommand, { Key: 'denied' }).rejects(new Error('AccessDenied'));
    const store = new S3ArchiveStore(new S3Client({ region: 'eu-west-1' }), 'b');
    expect(await store.get('missing')).toBeUndefined();
    await expect(store.get('denied')).rejects.toThrow('AccessDenied');
    mock.restore();
  });
});

describe('DirectoryArchiveStore', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'directory-archive-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('round-trips objects under key paths and lists them in key order', async () => {
    const store = new DirectoryArchiveStore(root);
    await store.put('keys/b.json', bytes('b'), 'application/json');
    await store.put('keys/a%2Fx.json', bytes('a'), 'application/json');
    await store.put('checkpoints/log/1.jsonl', bytes('1'), 'application/x-ndjson');
    expect(new Uint8Array((await store.get('keys/b.json'))!)).toEqual(bytes('b'));
    expect(await store.get('keys/none.json')).toBeUndefined();
    expect(await collect(store.list('keys/'))).toEqual(['keys/a%2Fx.json', 'keys/b.json']);
    // A prefix inside a directory walks that directory; one that is not a plain path walks the root.
    expect(await collect(store.list('keys/a'))).toEqual(['keys/a%2Fx.json']);
    expect(await collect(store.list('checkpoints/log/'))).toEqual(['checkpoints/log/1.jsonl']);
    expect(await collect(store.list('checkpoints/../keys/'))).toEqual([]);
    expect(await collect(store.list('keys/', { startAfter: 'keys/a%2Fx.json' }))).toEqual(['keys/b.json']);
    expect(await collect(store.list(''))).toEqual([
      'checkpoints/log/1.jsonl',
      'keys/a%2Fx.json',
      'keys/b.json',
    ]);
    expect(readdirSync(join(root, 'keys')).some((name) => name.endsWith('.tmp'))).toBe(false);
  });

  it('lists nothing for a missing directory', async () => {
    expect(await collect(new DirectoryArchiveStore(join(root, 'absent')).list(''))).toEqual([]);
  });

  it('rejects keys that would leave the archive directory', async () => {
    const store = new DirectoryArchiveStore(root);
    for (const key of ['../escape', 'a/../../b', '/etc/passwd', 'a//b', 'a\\b', '']) {
      await expect(store.put(key, bytes('x'), 'text/plain')).rejects.toThrow(/not a relative path/);
    }
  });
});
