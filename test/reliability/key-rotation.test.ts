import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { appendFromItem, eventFromItem } from '#adapters/dynamo-ledger-store.ts';
import { keyObjectKey } from '#core/archive-layout.ts';
import { parseCheckpointBody } from '#core/checkpoint.ts';
import { eventKey, KEYS_PARTITION, logPartition } from '#core/ledger-layout.ts';
import { type Receipt, verifyReceipt } from '#core/receipt.ts';
import { keyMap, type PublicKeyInfo } from '#core/signer.ts';
import { LogVerifier } from '#core/verify-log.ts';
import type { AppendWithLeavesJson } from '#core/wire.ts';
import { verifyArchive } from '../../cli/archive/verify-archive.ts';
import { createArchiver } from '../../lambdas/streams/archiver.ts';
import { apiEvent, lambdaContext, responseBody } from '../support/apigw.ts';
import { makeEvent } from '../support/events.ts';
import { LEDGER_TABLE_DEFINITION, mockDynamoDb } from '../support/fake-dynamodb.ts';
import { fakeKmsKey, mockKms } from '../support/fake-kms.ts';
import {
  ACCOUNT,
  AUDITOR,
  DEPLOYMENT_ORIGIN,
  insertRecord,
  MemoryArchive,
  originOf,
  postEvent,
  printCounts,
  SequenceSource,
  TENANT,
  tenantsConfig,
} from '../support/reliability-kit.ts';

/**
 * Key rotation as DESIGN.md defines it: asymmetric KMS keys never rotate, so rotation is a new key behind
 * the alias the ingest function signs through. Through the real Lambda entries and the real KmsSigner
 * (fake KMS, fake DynamoDB): events are signed by key A, the alias moves to key B (same algorithm, same
 * warm container), then a redeployment switches to an RSA key C. Events signed by every key must verify
 * through the read API (receipts rebuilt), through LogVerifier over the whole log (the first B append
 * extends a checkpoint A signed), and from the archive, whose keys/ holds every public key.
 */

const TABLE = 'rel-rotation-ledger';
const ALIAS = 'alias/audit-trail-checkpoints';
const arn = (id: string) => `arn:aws:kms:eu-west-1:${ACCOUNT}:key/${id}`;
// The alias lists are the fake KMS's own: moving the alias is editing them.
const aliasesA = [ALIAS];
const aliasesB: string[] = [];
const aliasesC: string[] = [];
const keyA = fakeKmsKey({ keyArn: arn('aaaa-1111'), aliases: aliasesA });
const keyB = fakeKmsKey({ keyArn: arn('bbbb-2222'), aliases: aliasesB });
const keyC = fakeKmsKey({
  keyArn: arn('cccc-3333'),
  aliases: aliasesC,
  algorithm: 'RSASSA_PKCS1_V1_5_SHA_256',
});
const kms = mockKms([keyA, keyB, keyC]);
const { db, mock: dynamo } = mockDynamoDb({ [TABLE]: LEDGER_TABLE_DEFINITION });

type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;
let read: Handler;
const signedBy = new Map<string, string>();
const receiptsAtIngest = new Map<string, Receipt>();

function moveAlias(to: string[]) {
  for (const list of [aliasesA, aliasesB, aliasesC]) list.splice(0, list.length);
  to.push(ALIAS);
}

async function loadIngest(algorithm: 'ECDSA_SHA_256' | 'RSASSA_PKCS1_V1_5_SHA_256'): Promise<Handler> {
  vi.resetModules();
  process.env.SIGNING_ALGORITHM = algorithm;
  return (await import('#handlers/ingest.ts')).handler;
}

async function ingestBatches(handler: Handler, count: number, prefix: string, key: string) {
  for (let b = 0; b < count; b++) {
    const events = Array.from({ length: 1 + ((b * 7) % 9) }, (_, i) => makeEvent(`${prefix}-${b}-${i}`));
    const response = await handler(postEvent(JSON.stringify({ events })), lambdaContext('ingest'));
    expect(response.statusCode).toBe(201);
    for (const receipt of responseBody(response).receipts as Receipt[]) {
      expect(receipt.checkpoint.keyId).toBe(key);
      signedBy.set(receipt.eventId, key);
      receiptsAtIngest.set(receipt.eventId, receipt);
    }
  }
}

const get = async (
  resource: string,
  pathParameters?: Record<string, string>,
  query?: Record<string, string>,
) => {
  const response = await read(
    apiEvent({
      method: 'GET',
      resource,
      principalArn: AUDITOR,
      ...(pathParameters ? { pathParameters } : {}),
      ...(query ? { query } : {}),
    }),
    lambdaContext('read'),
  );
  expect(response.statusCode).toBe(200);
  return responseBody(response);
};

async function servedAppends(): Promise<AppendWithLeavesJson[]> {
  const appends: AppendWithLeavesJson[] = [];
  let next: number | null = 0;
  while (next !== null) {
    const page = await get(
      '/v1/logs/{origin}/appends',
      { origin: originOf(0) },
      { from: String(next), limit: '7' },
    );
    appends.push(...page.appends);
    next = page.next;
  }
  return appends;
}

/** The table's items as the stream delivers them: keys, then each append with its events. */
function streamFromTable() {
  const sequences = new SequenceSource();
  const items = db.items(TABLE);
  const byPk = new Map(items.map((item) => [item.pk!.S!, item]));
  const appends = items
    .filter((item) => item.pk!.S === logPartition(originOf(0)))
    .sort((a, b) => (a.sk!.S! < b.sk!.S! ? -1 : 1));
  return [
    ...items.filter((item) => item.pk!.S === KEYS_PARTITION).map((item) => insertRecord(item, sequences)),
    ...appends.flatMap((item) => [
      insertRecord(item, sequences),
      ...appendFromItem(item).eventIds.map((id) =>
        insertRecord(byPk.get(eventKey(TENANT, id).pk)!, sequences),
      ),
    ]),
  ];
}

beforeAll(async () => {
  Object.assign(process.env, {
    AWS_REGION: 'eu-west-1',
    LEDGER_TABLE_NAME: TABLE,
    SIGNING_KEY_ID: ALIAS,
    SIGNING_ALGORITHM: 'ECDSA_SHA_256',
    DEPLOYMENT_ORIGIN,
    TENANTS_CONFIG: JSON.stringify(tenantsConfig()),
    POWERTOOLS_METRICS_NAMESPACE: 'AuditTrailReliability',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  });
  // One warm container through the first rotation: the alias moves under a running function.
  const ingest = await loadIngest('ECDSA_SHA_256');
  await ingestBatches(ingest, 12, 'key-a', keyA.keyArn);
  moveAlias(aliasesB);
  await ingestBatches(ingest, 12, 'key-b', keyB.keyArn);
  // A new key spec is a redeployment (SIGNING_ALGORITHM changes): a new container.
  moveAlias(aliasesC);
  await ingestBatches(await loadIngest('RSASSA_PKCS1_V1_5_SHA_256'), 6, 'key-c', keyC.keyArn);
  read = (await import('#handlers/read.ts')).handler;
});

afterAll(() => {
  kms.restore();
  dynamo.restore();
});

const countBy = (key: string) => [...signedBy.values()].filter((k) => k === key).length;

describe('key rotation behind the signing alias', () => {
  it('serves the public key of every key that ever signed, and nothing else', async () => {
    const { keys } = (await get('/v1/public-keys')) as { keys: PublicKeyInfo[] };
    expect(keys.map((key) => key.keyId).sort()).toEqual([keyA.keyArn, keyB.keyArn, keyC.keyArn].sort());
    expect(keys.find((key) => key.keyId === keyA.keyArn)?.publicKeyPem).toBe(keyA.publicKeyPem);
    expect(keys.find((key) => key.keyId === keyC.keyArn)?.algorithm).toBe('RSASSA_PKCS1_V1_5_SHA_256');
  });

  it('rebuilds receipts through the read API that verify for events signed by the old keys and the new one', async () => {
    const keys = keyMap(((await get('/v1/public-keys')) as { keys: PublicKeyInfo[] }).keys);
    const verified = new Map<string, number>();
    for (const [eventId, key] of signedBy) {
      const { event, receipt } = (await get('/v1/events/{id}', { id: eventId })) as {
        event: Record<string, unknown>;
        receipt: Receipt;
      };
      expect(receipt.checkpoint.keyId).toBe(key);
      expect(receipt).toEqual(receiptsAtIngest.get(eventId));
      expect(verifyReceipt(event, receipt, keys)).toEqual({ ok: true });
      verified.set(key, (verified.get(key) ?? 0) + 1);
    }
    printCounts('key-rotation read API', {
      signedByA: countBy(keyA.keyArn),
      signedByB: countBy(keyB.keyArn),
      signedByC_rsa: countBy(keyC.keyArn),
      receiptsVerified: [...verified.values()].reduce((a, b) => a + b, 0),
      kmsSigns: kms.calls().filter((call) => call.args[0].constructor.name === 'SignCommand').length,
    });
    expect(verified.get(keyA.keyArn)).toBe(countBy(keyA.keyArn));
    expect(verified.get(keyB.keyArn)).toBe(countBy(keyB.keyArn));
    expect(verified.get(keyC.keyArn)).toBe(countBy(keyC.keyArn));
    expect(countBy(keyA.keyArn)).toBeGreaterThan(0);
  });

  it('verifies the whole log across both rotations with LogVerifier, each checkpoint extending one the previous key signed', async () => {
    const keys = keyMap(((await get('/v1/public-keys')) as { keys: PublicKeyInfo[] }).keys);
    const appends = await servedAppends();
    const head = (await get('/v1/logs/{origin}/checkpoint', { origin: originOf(0) })) as {
      checkpoint: Receipt['checkpoint'];
    };
    const verifier = new LogVerifier({ origin: originOf(0), keys, knownCheckpoints: [head.checkpoint] });
    for (const append of appends) expect(verifier.push(append)).toBeUndefined();
    const result = verifier.finish();
    const boundaries = appends.filter(
      (append, i) => i > 0 && append.previous?.keyId !== append.checkpoint.keyId,
    );
    printCounts('key-rotation LogVerifier', {
      appends: result.appends,
      leaves: result.leaves,
      signatures: result.signatures,
      keyBoundaries: boundaries.length,
      failure: result.failure?.check ?? 'none',
    });
    expect(result.failure).toBeUndefined();
    expect(result.leaves).toBe(signedBy.size);
    expect(boundaries.map((append) => [append.previous?.keyId, append.checkpoint.keyId])).toEqual([
      [keyA.keyArn, keyB.keyArn],
      [keyB.keyArn, keyC.keyArn],
    ]);
  });

  it('fails to verify the log with only the old public key, naming the first append the new key signed', async () => {
    const appends = await servedAppends();
    const verifier = new LogVerifier({
      origin: originOf(0),
      keys: keyMap([{ keyId: keyA.keyArn, algorithm: 'ECDSA_SHA_256', publicKeyPem: keyA.publicKeyPem }]),
    });
    let failure: ReturnType<LogVerifier['push']>;
    for (const append of appends) failure ??= verifier.push(append);
    const firstB = appends.find((append) => append.checkpoint.keyId === keyB.keyArn)!;
    expect(failure).toMatchObject({ check: 'unknown-key', appendStart: firstB.start });
  });

  it('fails when a checkpoint signed by one key is relabelled with another key id', async () => {
    const keys = keyMap(((await get('/v1/public-keys')) as { keys: PublicKeyInfo[] }).keys);
    const appends = await servedAppends();
    const index = appends.findIndex((append) => append.checkpoint.keyId === keyA.keyArn && append.start > 0);
    const relabelled = {
      ...appends[index]!,
      checkpoint: { ...appends[index]!.checkpoint, keyId: keyB.keyArn },
    };
    const verifier = new LogVerifier({ origin: originOf(0), keys });
    let failure: ReturnType<LogVerifier['push']>;
    for (const append of [...appends.slice(0, index), relabelled]) failure ??= verifier.push(append);
    expect(failure).toMatchObject({ check: 'signature', appendStart: relabelled.start });
  });

  it('verifies from the archive alone: keys/ holds all three public keys and every checkpoint checks', async () => {
    const archive = new MemoryArchive();
    const archiver = createArchiver({ archive, codec: { eventFromItem, appendFromItem } });
    const records = streamFromTable();
    for (let i = 0; i < records.length; i += 25) {
      expect((await archiver({ Records: records.slice(i, i + 25) })).batchItemFailures).toEqual([]);
    }
    const report = await verifyArchive(archive);
    const archivedKeys = [...archive.objects.keys()].filter((key) => key.startsWith('keys/'));
    printCounts('key-rotation archive', {
      keysArchived: archivedKeys.length,
      leaves: report.totals.leaves,
      signatures: report.totals.signatures,
      ok: report.ok,
    });
    expect(report.failure).toBeUndefined();
    expect(report.totals.leaves).toBe(signedBy.size);
    expect(archivedKeys.sort()).toEqual([keyA.keyArn, keyB.keyArn, keyC.keyArn].map(keyObjectKey).sort());

    // Without B's archived public key, the archive cannot vouch for what B signed: named at its first append.
    const withoutB = archive.clone();
    withoutB.objects.delete(keyObjectKey(keyB.keyArn));
    const failed = await verifyArchive(withoutB);
    const firstB = [...signedBy.entries()].find(([, key]) => key === keyB.keyArn)!;
    const firstBStart = receiptsAtIngest.get(firstB[0])!.leafIndex;
    expect(failed.failure).toMatchObject({ check: 'unknown-key', appendStart: firstBStart });
    expect(parseCheckpointBody(receiptsAtIngest.get(firstB[0])!.checkpoint.body).size).toBeGreaterThan(
      firstBStart,
    );
  });
});
