import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { DynamoDBRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { eventKey } from '#core/ledger-layout.ts';
import { createLocalApp } from '../../local/wiring.ts';
import { auditEvent, useSandbox } from './setup/sandbox.ts';
import { send, signedSend } from './setup/signing.ts';

const delivered: DynamoDBRecord[] = [];
const harness = useSandbox({
  // The real handlers, plus a consumer that records what the stream poller delivers.
  createApp: async (options) => {
    const app = await createLocalApp(options);
    const recorder = async (event: { Records: DynamoDBRecord[] }) => {
      delivered.push(...event.Records);
    };
    return {
      ...app,
      streamConsumers: [...app.streamConsumers, { name: 'test-recorder', handler: recorder }],
    };
  },
});

describe('the sandbox API', () => {
  it('records an event signed like the AWS SDK and reads it back with its receipt', async () => {
    const event = auditEvent();
    const posted = await harness.call('writer', { path: '/v1/events', body: { events: [event] } });
    expect(posted.status).toBe(201);
    const [receipt] = posted.json<{ receipts: { eventId: string; origin: string }[] }>().receipts;
    expect(receipt).toMatchObject({
      eventId: event.id,
      origin: expect.stringMatching(/^sandbox\.audit-trail\.local\/demo\//),
    });

    const read = await harness.call('reader', { path: `/v1/events/${event.id}` });
    expect(read.status).toBe(200);
    const body = read.json<{ event: Record<string, unknown>; receipt: unknown }>();
    expect(body.event).toMatchObject({ id: event.id, action: event.action });
    expect(body.receipt).toEqual(receipt);
  });

  it('rejects an unsigned request with 403 missing_authentication', async () => {
    const response = await send({ method: 'GET', url: `${harness.sandbox.endpoint}/v1/events`, headers: {} });
    expect(response.status).toBe(403);
    expect(response.json()).toMatchObject({ error: { code: 'missing_authentication' } });
  });

  it('rejects a request signed with the wrong secret with 403 invalid_signature', async () => {
    const { accessKeyId } = harness.sandbox.credentials.reader;
    const response = await signedSend(
      { method: 'GET', url: `${harness.sandbox.endpoint}/v1/events`, headers: {} },
      { credentials: { accessKeyId, secretAccessKey: 'not-the-secret' } },
    );
    expect(response.status).toBe(403);
    expect(response.json()).toMatchObject({ error: { code: 'invalid_signature' } });
  });

  it('rejects an access key the sandbox did not issue with 403 unknown_access_key', async () => {
    const response = await signedSend(
      { method: 'GET', url: `${harness.sandbox.endpoint}/v1/events`, headers: {} },
      { credentials: { accessKeyId: 'LOCALREADERNOTISSUED', secretAccessKey: 'x' } },
    );
    expect(response.json()).toMatchObject({ error: { code: 'unknown_access_key' } });
  });

  it('rejects the writer credential on GET /v1/events with 403', async () => {
    const response = await harness.call('writer', { path: '/v1/events' });
    expect(response.status).toBe(403);
    expect(response.json()).toMatchObject({ error: { code: 'access_denied' } });
  });

  it('rejects the reader credential on POST /v1/events with 403', async () => {
    const response = await harness.call('reader', { path: '/v1/events', body: { events: [auditEvent()] } });
    expect(response.status).toBe(403);
    expect(response.json()).toMatchObject({ error: { code: 'access_denied' } });
  });
});

describe('the ledger stream', () => {
  it('delivers the records an ingest wrote to every stream consumer, shaped like Lambda events', async () => {
    const event = auditEvent();
    expect((await harness.call('writer', { path: '/v1/events', body: { events: [event] } })).status).toBe(
      201,
    );
    await harness.sandbox.waitForIdle();
    const key = eventKey('demo', event.id);
    const record = delivered.find((r) => r.dynamodb?.Keys?.pk?.S === key.pk);
    expect(record).toMatchObject({
      eventName: 'INSERT',
      eventSource: 'aws:dynamodb',
      awsRegion: 'us-east-1',
      eventSourceARN: harness.sandbox.streamArn,
      dynamodb: { Keys: { pk: { S: key.pk }, sk: { S: key.sk } }, StreamViewType: 'NEW_IMAGE' },
    });
    expect(record?.dynamodb?.NewImage?.pk).toEqual({ S: key.pk });
    expect(typeof record?.dynamodb?.ApproximateCreationDateTime).toBe('number');
  });
});

describe('sandbox.json', () => {
  it('tells clients the endpoint, region, tenant, credentials and local services', () => {
    const { sandbox } = harness;
    const path = join(sandbox.dataDir, 'sandbox.json');
    const info = JSON.parse(readFileSync(path, 'utf8'));
    expect(info).toEqual({
      endpoint: sandbox.endpoint,
      region: 'us-east-1',
      tenant: 'demo',
      credentials: sandbox.credentials,
      dynamodb: { endpoint: sandbox.dynamodb.endpoint, table: sandbox.dynamodb.table },
      s3: { endpoint: sandbox.s3.endpoint, bucket: sandbox.s3.bucket },
    });
    for (const role of ['writer', 'reader', 'auditor'] as const) {
      expect(info.credentials[role].accessKeyId).toMatch(new RegExp(`^LOCAL${role.toUpperCase()}`));
    }
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });
});

describe('curl --aws-sigv4', () => {
  const curl = (args: string[]) =>
    promisify(execFile)('curl', ['-s', '-w', '\n%{http_code}', ...args]).then(({ stdout }) => {
      const lines = stdout.split('\n');
      return { status: Number(lines.pop()), body: lines.join('\n') };
    });
  const sigv4 = () => ['--aws-sigv4', `aws:amz:${harness.sandbox.region}:execute-api`];
  const user = (role: 'writer' | 'reader') => {
    const { accessKeyId, secretAccessKey } = harness.sandbox.credentials[role];
    return ['--user', `${accessKeyId}:${secretAccessKey}`];
  };

  it('records an event posted by curl and reads it back with curl', async () => {
    const event = auditEvent();
    const posted = await curl([
      ...sigv4(),
      ...user('writer'),
      '-H',
      'content-type: application/json',
      '-d',
      JSON.stringify({ events: [event] }),
      `${harness.sandbox.endpoint}/v1/events`,
    ]);
    expect(posted.status).toBe(201);
    const read = await curl([
      ...sigv4(),
      ...user('reader'),
      `${harness.sandbox.endpoint}/v1/events/${event.id}`,
    ]);
    expect(read.status).toBe(200);
    expect(JSON.parse(read.body).event.id).toBe(event.id);
  });
});
