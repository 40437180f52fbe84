import {
  GetObjectLegalHoldCommand,
  ListObjectsV2Command,
  PutObjectLegalHoldCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { checkpointsObjectKey, eventsObjectKey, keyObjectKey } from '#core/archive-layout.ts';
import { applyLegalHold, tenantsWithEvents } from '../../cli/archive/legal-hold.ts';
import { runCli } from '../support/cli.ts';

const s3 = mockClient(S3Client);
const A0 = 'prod.example/acme/0';
const A1 = 'prod.example/acme/1';

const OBJECTS = [
  eventsObjectKey('acme', '2026-02-28T10:00:00.000Z', A0, 0, 4),
  eventsObjectKey('acme', '2026-03-02T10:00:00.000Z', A0, 5, 9),
  eventsObjectKey('acme', '2026-03-05T10:00:00.000Z', A1, 0, 2),
  eventsObjectKey('acme', '2026-03-12T10:00:00.000Z', A0, 10, 12),
  eventsObjectKey('globex', '2026-03-02T10:00:00.000Z', 'prod.example/globex/0', 0, 1),
  checkpointsObjectKey(A0, 0, 5),
  checkpointsObjectKey(A0, 5, 10),
  checkpointsObjectKey(A0, 10, 13),
  checkpointsObjectKey(A1, 0, 3),
  keyObjectKey('arn:aws:kms:eu-west-1:123456789012:key/k1'),
].map((key) => `archive/${key}`);

const noLock = () =>
  new S3ServiceException({
    name: 'NoSuchObjectLockConfiguration',
    $fault: 'client',
    $metadata: { httpStatusCode: 404 },
    message: 'none',
  });

beforeEach(() => {
  s3.reset();
  // Paged in twos, as ListObjectsV2 pages at MaxKeys.
  s3.on(ListObjectsV2Command).callsFake((input: { Prefix: string; ContinuationToken?: string }) => {
    const matching = OBJECTS.filter((key) => key.startsWith(input.Prefix));
    const start = Number(input.ContinuationToken ?? 0);
    const page = matching.slice(start, start + 2);
    const more = start + 2 < matching.length;
    return {
      Contents: page.map((Key) => ({ Key })),
      IsTruncated: more,
      ...(more ? { NextContinuationToken: String(start + 2) } : {}),
    };
  });
  s3.on(GetObjectLegalHoldCommand).rejects(noLock());
  s3.on(GetObjectLegalHoldCommand, { Key: `archive/${checkpointsObjectKey(A0, 0, 5)}` }).resolves({
    LegalHold: { Status: 'ON' },
  });
  s3.on(PutObjectLegalHoldCommand).resolves({});
});

const options = (overrides = {}) => ({
  client: new S3Client({ region: 'eu-west-1' }),
  bucket: 'audit-archive',
  prefix: 'archive/',
  tenant: 'acme',
  fromPartition: '2026-03-01',
  toPartition: '2026-03-08',
  status: 'ON' as const,
  ...overrides,
});

describe('legal hold', () => {
  it('holds the events objects in range, the checkpoints chain up to their last leaf, and the keys', async () => {
    const changes = await applyLegalHold(options());
    expect(changes.map((c) => [c.kind, c.key, c.changed])).toEqual([
      ['events', eventsObjectKey('acme', '2026-03-02T10:00:00.000Z', A0, 5, 9), true],
      ['events', eventsObjectKey('acme', '2026-03-05T10:00:00.000Z', A1, 0, 2), true],
      ['checkpoints', checkpointsObjectKey(A0, 0, 5), false],
      ['checkpoints', checkpointsObjectKey(A0, 5, 10), true],
      ['checkpoints', checkpointsObjectKey(A1, 0, 3), true],
      ['keys', keyObjectKey('arn:aws:kms:eu-west-1:123456789012:key/k1'), true],
    ]);
    const puts = s3.commandCalls(PutObjectLegalHoldCommand).map((call) => call.args[0].input);
    expect(puts).toHaveLength(5);
    expect(puts[0]).toEqual({
      Bucket: 'audit-archive',
      Key: `archive/${eventsObjectKey('acme', '2026-03-02T10:00:00.000Z', A0, 5, 9)}`,
      LegalHold: { Status: 'ON' },
    });
  });

  it('changes nothing with --dry-run but lists what it would change', async () => {
    const changes = await applyLegalHold(options({ dryRun: true }));
    expect(changes.filter((c) => c.changed)).toHaveLength(5);
    expect(s3.commandCalls(PutObjectLegalHoldCommand)).toHaveLength(0);
  });

  it('releases only the events objects unless shared objects are asked for', async () => {
    s3.on(GetObjectLegalHoldCommand).resolves({ LegalHold: { Status: 'ON' } });
    const changes = await applyLegalHold(options({ status: 'OFF' }));
    expect(changes.map((c) => c.kind)).toEqual(['events', 'events']);
    const shared = await applyLegalHold(options({ status: 'OFF', includeShared: true }));
    expect(shared.map((c) => c.kind)).toEqual([
      'events',
      'events',
      'checkpoints',
      'checkpoints',
      'checkpoints',
      'keys',
    ]);
  });

  it('holds nothing when no events object is in range', async () => {
    expect(await applyLegalHold(options({ fromPartition: '2027-01-01', toPartition: '2027-01-31' }))).toEqual(
      [],
    );
    expect(s3.commandCalls(PutObjectLegalHoldCommand)).toHaveLength(0);
  });

  it('fails on an S3 error other than "no hold yet", before changing that object', async () => {
    s3.on(GetObjectLegalHoldCommand).rejects(
      new S3ServiceException({
        name: 'AccessDenied',
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
        message: 'denied',
      }),
    );
    await expect(applyLegalHold(options())).rejects.toThrow(/denied/);
    expect(s3.commandCalls(PutObjectLegalHoldCommand)).toHaveLength(0);
  });
});

describe('audit-trail legal-hold', () => {
  const cli = (...argv: string[]) => runCli(argv, { cwd: '/', env: { AWS_REGION: 'eu-west-1' } });
  const matter = [
    '--from',
    '2026-03-02',
    '--to',
    '2026-03-08',
    '--bucket',
    'audit-archive',
    '--prefix',
    'archive',
  ];

  it('sets holds for a tenant with events in the period', async () => {
    const { code, stdout } = await cli('legal-hold', 'on', '--tenant', 'acme', ...matter);
    expect(code).toBe(0);
    expect(stdout).toMatch(/objects changed/);
    expect(s3.commandCalls(PutObjectLegalHoldCommand).length).toBeGreaterThan(0);
  });

  it('refuses a hold that matches no events (a mistyped tenant), naming the tenants with events', async () => {
    const { code, stderr } = await cli('--json', 'legal-hold', 'on', '--tenant', 'acmee', ...matter);
    expect(code).toBe(2);
    expect(JSON.parse(stderr).error).toMatchObject({
      code: 'nothing_to_hold',
      message: expect.stringContaining('no legal hold set (the archive holds events of "acme", "globex")'),
      tenants: ['acme', 'globex'],
    });
    expect(s3.commandCalls(PutObjectLegalHoldCommand)).toHaveLength(0);
  });

  it('refuses a period with no events of a known tenant, and says so', async () => {
    const { code, stderr } = await cli(
      'legal-hold',
      'off',
      '--tenant',
      'globex',
      '--from',
      '2027-01-01',
      '--to',
      '2027-01-31',
      '--bucket',
      'audit-archive',
      '--prefix',
      'archive',
    );
    expect(code).toBe(2);
    expect(stderr).toMatch(/no legal hold released \(tenant "globex" has none in that period\)/);
  });

  it('lists the objects when a server answers the folder listing with nothing (as s3rver does)', async () => {
    s3.on(ListObjectsV2Command, { Delimiter: '/' }).resolves({ IsTruncated: false });
    const client = new S3Client({ region: 'eu-west-1' });
    expect(await tenantsWithEvents({ client, bucket: 'audit-archive', prefix: 'archive/' })).toEqual([
      'acme',
      'globex',
    ]);
  });

  it('lists tenants by folder when S3 answers with common prefixes', async () => {
    s3.on(ListObjectsV2Command, { Delimiter: '/' }).resolves({
      CommonPrefixes: [{ Prefix: 'archive/events/tenant=acme/' }, { Prefix: 'archive/events/tenant=zeta/' }],
      IsTruncated: false,
    });
    const client = new S3Client({ region: 'eu-west-1' });
    expect(await tenantsWithEvents({ client, bucket: 'audit-archive', prefix: 'archive/' })).toEqual([
      'acme',
      'zeta',
    ]);
  });
});
