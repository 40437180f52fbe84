import 'aws-sdk-client-mock-vitest/extend';
import { createPublicKey } from 'node:crypto';
import { TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventKey } from '#core/ledger-layout.ts';
import { type Receipt, verifyReceipt } from '#core/receipt.ts';
import { LIMITS } from '#core/schema.ts';
import { keyMap, type PublicKeyInfo } from '#core/signer.ts';
import { apiEvent, lambdaContext, responseBody } from '../support/apigw.ts';
import { makeBatch, makeEvent } from '../support/events.ts';
import { LEDGER_TABLE_DEFINITION, mockDynamoDb } from '../support/fake-dynamodb.ts';
import { fakeKmsKey, mockKms } from '../support/fake-kms.ts';

const TABLE = 'audit-ledger';
const ACCOUNT = '123456789012';
const KEY_ALIAS = 'alias/audit-trail-checkpoints';
const KEY_ARN = `arn:aws:kms:eu-west-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const DEPLOYMENT_ORIGIN = 'audit.example.com/prod';
const ORIGIN = `${DEPLOYMENT_ORIGIN}/acme/0`;
const session = (role: string) => `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/session-42`;
const WRITER = session('AcmeDeployer');
const READER = session('AcmeReader');

const key = fakeKmsKey({ keyArn: KEY_ARN, aliases: [KEY_ALIAS] });
const kms = mockKms([key]);
const { db, mock: dynamo } = mockDynamoDb({ [TABLE]: LEDGER_TABLE_DEFINITION });

let handler: (
  event: APIGatewayProxyEvent,
  context: ReturnType<typeof lambdaContext>,
) => Promise<APIGatewayProxyResult>;

beforeAll(async () => {
  Object.assign(process.env, {
    AWS_REGION: 'eu-west-1',
    LEDGER_TABLE_NAME: TABLE,
    SIGNING_KEY_ID: KEY_ALIAS,
    SIGNING_ALGORITHM: 'ECDSA_SHA_256',
    DEPLOYMENT_ORIGIN,
    TENANTS_CONFIG: JSON.stringify({
      tenants: [
        {
          name: 'acme',
          writers: [`arn:aws:iam::${ACCOUNT}:role/AcmeDeployer`],
          readers: [`arn:aws:iam::${ACCOUNT}:role/AcmeReader`],
        },
        { name: 'globex', writers: [`arn:aws:iam::${ACCOUNT}:role/GlobexDeployer`] },
      ],
    }),
    POWERTOOLS_METRICS_NAMESPACE: 'AuditTrailTest',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  });
  ({ handler } = await import('#handlers/ingest.ts'));
});

afterAll(() => {
  kms.restore();
  dynamo.restore();
});

beforeEach(() => {
  kms.resetHistory();
  dynamo.resetHistory();
});

const post = (body: unknown, options: { principal?: string; contentType?: string; raw?: string } = {}) =>
  handler(
    apiEvent({
      method: 'POST',
      resource: '/v1/events',
      principalArn: options.principal ?? WRITER,
      body: options.raw ?? JSON.stringify(body),
      ...(options.contentType ? { contentType: options.contentType } : {}),
    }),
    lambdaContext('ingest'),
  );

/** The signing key's public half, fetched from KMS the way an auditor would. */
async function publicKeys(): Promise<Map<string, PublicKeyInfo>> {
  const response = await new KMSClient({ region: 'eu-west-1' }).send(
    new GetPublicKeyCommand({ KeyId: KEY_ALIAS }),
  );
  const publicKeyPem = createPublicKey({ key: Buffer.from(response.PublicKey!), format: 'der', type: 'spki' })
    .export({ type: 'spki', format: 'pem' })
    .toString();
  return keyMap([{ keyId: response.KeyId!, algorithm: 'ECDSA_SHA_256', publicKeyPem }]);
}

const storedRecord = (eventId: string) =>
  db.item(TABLE, { pk: { S: eventKey('acme', eventId).pk }, sk: { S: 'EVENT' } })?.record?.S;

describe('POST /v1/events (Lambda entry lambdas/handlers/ingest.ts)', () => {
  it(`records ${LIMITS.maxBatchEvents} events: 201, a receipt each that verifies with the KMS public key, one KMS Sign`, async () => {
    const events = makeBatch(LIMITS.maxBatchEvents, 'handler-full');
    const response = await post({ events });
    expect(response.statusCode).toBe(201);
    expect(response.headers?.['content-type']).toMatch(/^application\/json/);
    const { receipts } = responseBody(response) as { receipts: Receipt[] };
    expect(receipts).toHaveLength(LIMITS.maxBatchEvents);
    expect(receipts.map((receipt) => receipt.eventId)).toEqual(events.map((event) => event.id));

    expect(kms).toHaveReceivedCommandTimes(SignCommand, 1);
    expect(kms.commandCalls(SignCommand)[0]!.args[0].input).toMatchObject({
      KeyId: KEY_ALIAS,
      MessageType: 'RAW',
      SigningAlgorithm: 'ECDSA_SHA_256',
    });
    expect(dynamo.commandCalls(TransactWriteItemsCommand)).toHaveLength(1);
    expect(dynamo.commandCalls(TransactWriteItemsCommand)[0]!.args[0].input.TransactItems).toHaveLength(
      LIMITS.maxBatchEvents + 1,
    );

    const keys = await publicKeys();
    for (const receipt of receipts) {
      const record = storedRecord(receipt.eventId);
      const result = verifyReceipt(record!, receipt, keys);
      if (!result.ok) expect.fail(`receipt ${receipt.leafIndex}: ${result.check} ${result.reason}`);
    }
  });

  it('returns receipts with exactly the DESIGN.md keys and a C2SP checkpoint body', async () => {
    const response = await post({ events: makeBatch(2, 'handler-shape') });
    const { receipts } = responseBody(response) as { receipts: Receipt[] };
    for (const receipt of receipts) {
      expect(Object.keys(receipt).sort()).toEqual([
        'checkpoint',
        'eventId',
        'inclusionProof',
        'leafHash',
        'leafIndex',
        'origin',
        'version',
      ]);
      expect(Object.keys(receipt.checkpoint).sort()).toEqual(['algorithm', 'body', 'keyId', 'signature']);
      expect(receipt).toMatchObject({
        version: 1,
        origin: ORIGIN,
        checkpoint: { keyId: KEY_ARN, algorithm: 'ECDSA_SHA_256' },
      });
      expect(receipt.leafHash).toMatch(/^[0-9a-f]{64}$/);
      for (const hash of receipt.inclusionProof) expect(hash).toMatch(/^[0-9a-f]{64}$/);
      const size = receipts[0]!.leafIndex + receipts.length;
      expect(receipt.checkpoint.body).toMatch(new RegExp(`^${ORIGIN}\\n${size}\\n[A-Za-z0-9+/]{43}=\\n$`));
      expect(Buffer.from(receipt.checkpoint.signature, 'base64')[0]).toBe(0x30); // DER SEQUENCE
    }
  });

  it('stores the caller as API Gateway reported it and the request time as receivedAt', async () => {
    const event = makeEvent('handler-caller');
    await post({ events: [event] });
    const record = JSON.parse(storedRecord(event.id)!);
    expect(record).toMatchObject({
      tenant: 'acme',
      receivedAt: new Date(1718636305078).toISOString(),
      caller: {
        principalArn: WRITER,
        accountId: ACCOUNT,
        sourceIp: '15.248.3.126',
        userAgent: 'HTTPie/3.2.2',
      },
    });
  });

  it('rejects a batch with one invalid event at index 37: 400 invalid_event naming index and path, nothing written or signed', async () => {
    const events = makeBatch(LIMITS.maxBatchEvents, 'handler-invalid') as unknown as Record<
      string,
      unknown
    >[];
    events[37] = { ...events[37]!, actor: { type: 'user', id: '' } };
    const response = await post({ events });
    expect(response.statusCode).toBe(400);
    expect(responseBody(response).error).toMatchObject({
      code: 'invalid_event',
      issues: [{ index: 37, path: 'actor.id', message: 'must not be empty' }],
    });
    expect(dynamo).toHaveReceivedCommandTimes(TransactWriteItemsCommand, 0);
    expect(kms).toHaveReceivedCommandTimes(SignCommand, 0);
    expect(storedRecord(String(events[0]!.id))).toBeUndefined();
  });

  it('answers a retried batch with 200 and identical receipts, without writing or signing again', async () => {
    const events = makeBatch(30, 'handler-retry');
    const first = await post({ events });
    expect(first.statusCode).toBe(201);
    kms.resetHistory();
    dynamo.resetHistory();
    const again = await post({ events });
    expect(again.statusCode).toBe(200);
    expect(responseBody(again).receipts).toEqual(responseBody(first).receipts);
    expect(dynamo).toHaveReceivedCommandTimes(TransactWriteItemsCommand, 0);
    expect(kms).toHaveReceivedCommandTimes(SignCommand, 0);
  });

  it('rejects an id reused with other content: 409 event_conflict naming the id', async () => {
    const event = makeEvent('handler-conflict');
    expect((await post({ events: [event] })).statusCode).toBe(201);
    dynamo.resetHistory();
    const response = await post({ events: [{ ...event, reason: 'edited afterwards' }] });
    expect(response.statusCode).toBe(409);
    expect(responseBody(response).error).toMatchObject({ code: 'event_conflict', eventIds: [event.id] });
    expect(dynamo).toHaveReceivedCommandTimes(TransactWriteItemsCommand, 0);
  });

  it('rejects text/plain with 415', async () => {
    const response = await post({ events: [makeEvent('handler-415')] }, { contentType: 'text/plain' });
    expect(response.statusCode).toBe(415);
    expect(responseBody(response).error.code).toBe('unsupported_media_type');
  });

  it('accepts application/json with a charset parameter', async () => {
    const response = await post(
      { events: [makeEvent('handler-charset')] },
      { contentType: 'application/json; charset=utf-8' },
    );
    expect(response.statusCode).toBe(201);
  });

  it.each([
    ['broken JSON', '{"events": [', /not valid JSON/],
    [
      'duplicate keys',
      `{"events": [], "events": [${JSON.stringify(makeEvent('handler-dup-key'))}]}`,
      /repeats the key "events"/,
    ],
    [
      'duplicate keys inside an event',
      JSON.stringify({ events: [makeEvent('handler-dup-inner')] }).replace(
        '"outcome":"success"',
        '"outcome":"success","outcome":"failure"',
      ),
      /repeats the key "outcome"/,
    ],
    ['an empty body', '', /empty/],
  ])('rejects %s with 400 invalid_request', async (_name, raw, message) => {
    const response = await post(undefined, { raw });
    expect(response.statusCode).toBe(400);
    expect(responseBody(response).error).toMatchObject({
      code: 'invalid_request',
      message: expect.stringMatching(message),
    });
    expect(dynamo).toHaveReceivedCommandTimes(TransactWriteItemsCommand, 0);
  });

  it(`rejects ${LIMITS.maxBatchEvents + 1} events with 413`, async () => {
    const response = await post({ events: makeBatch(LIMITS.maxBatchEvents + 1, 'handler-413') });
    expect(response.statusCode).toBe(413);
    expect(responseBody(response).error.code).toBe('payload_too_large');
    expect(kms).toHaveReceivedCommandTimes(SignCommand, 0);
  });

  it.each([
    ['an unconfigured principal', session('SomeoneElse')],
    ['a reader principal', READER],
  ])('rejects %s with 403, before reading the body', async (_name, principal) => {
    const response = await post({ events: [makeEvent('handler-403')] }, { principal });
    expect(response.statusCode).toBe(403);
    expect(responseBody(response).error.code).toBe('forbidden');
    expect(dynamo).toHaveReceivedCommandTimes(TransactWriteItemsCommand, 0);
    expect(kms).toHaveReceivedCommandTimes(SignCommand, 0);
  });

  it('keeps tenants apart: another tenant writing the same id gets its own log', async () => {
    const event = makeEvent('handler-tenants');
    await post({ events: [event] });
    const response = await post({ events: [event] }, { principal: session('GlobexDeployer') });
    expect(response.statusCode).toBe(201);
    expect(responseBody(response).receipts[0].origin).toBe(`${DEPLOYMENT_ORIGIN}/globex/0`);
  });
});
