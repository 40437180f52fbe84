import { sign as cryptoSign, generateKeyPairSync } from 'node:crypto';
import { Readable } from 'node:stream';
import { type AttributeValue, DynamoDBClient, TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import { KMSClient, SignCommand } from '@aws-sdk/client-kms';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { DynamoLedgerStore } from '#adapters/dynamo-ledger-store.ts';
import { KmsSigner } from '#adapters/kms-signer.ts';
import { createIngest } from '#core/ingest.ts';
import { LEDGER_INDEX_PROJECTION, LEDGER_INDEXES } from '#core/ledger-layout.ts';
import type { AppendRecord, LedgerStore, LogHead, StoredEvent } from '#core/ports.ts';
import { LIMITS } from '#core/schema.ts';
import type { Signer } from '#core/signer.ts';
import { createIngestHandler } from '../lambdas/http/ingest.ts';
import { parseJsonStrict } from '../lambdas/http/strict-json.ts';
import { apiEvent } from '../test/support/apigw.ts';
import { LEDGER_TABLE_DEFINITION, mockDynamoDb } from '../test/support/fake-dynamodb.ts';
import { fakeKmsKey, mockKms } from '../test/support/fake-kms.ts';
import { writeUnits } from './dynamo-item-size.ts';
import { benchEvent } from './events.ts';
import { cpuMicros } from './measure.ts';

const TABLE = 'bench-ledger';
const KEY_ARN = 'arn:aws:kms:eu-west-1:111111111111:key/0b8f2b9a-bench';
const WRITER = 'arn:aws:iam::111111111111:role/ci-deployer';
const TENANTS = { tenants: [{ name: 'platform', shards: 1, writers: [WRITER], readers: [], auditors: [] }] };

const requestFor = (events: unknown[]): APIGatewayProxyEvent =>
  apiEvent({
    method: 'POST',
    resource: '/v1/events',
    body: JSON.stringify({ events }),
    principalArn: `arn:aws:sts::111111111111:assumed-role/ci-deployer/bench`,
  });

/**
 * KMS Sign calls and DynamoDB write units per event, counted through the real Lambda entry with KMS and
 * DynamoDB answered by in-memory fakes (the KMS fake really signs, so receipts are real).
 */
export async function countSignsAndWrites() {
  process.env.LEDGER_TABLE_NAME = TABLE;
  process.env.SIGNING_KEY_ID = 'alias/audit-trail-bench';
  process.env.SIGNING_ALGORITHM = 'ECDSA_SHA_256';
  process.env.DEPLOYMENT_ORIGIN = 'audit.example.com/bench';
  process.env.TENANTS_CONFIG = JSON.stringify(TENANTS);
  process.env.POWERTOOLS_METRICS_NAMESPACE = 'AuditTrailBench';
  process.env.POWERTOOLS_DEV = 'true';
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  const kms = mockKms([fakeKmsKey({ keyArn: KEY_ARN, aliases: ['alias/audit-trail-bench'] })]);
  const { mock: dynamo } = mockDynamoDb({ [TABLE]: LEDGER_TABLE_DEFINITION });
  const { handler } = await import('../lambdas/handlers/ingest.ts');
  const context = { functionName: 'bench', awsRequestId: 'bench' } as never;
  const signs: Record<string, number> = {};
  let transactionUnits = 0;
  let gsiUnits = 0;
  let eventCount = 0;
  for (const [name, batch] of [
    ['batch1', 1],
    ['batch10', 10],
    ['batchMax', LIMITS.maxBatchEvents],
  ] as const) {
    kms.resetHistory();
    dynamo.resetHistory();
    for (let sent = 0; sent < 1000; sent += batch) {
      const events = Array.from({ length: Math.min(batch, 1000 - sent) }, (_, i) =>
        benchEvent(sent + i + batch * 100_000),
      );
      const response = await handler(requestFor(events), context);
      if (response.statusCode !== 201)
        throw new Error(`bench ingest failed: ${response.statusCode} ${response.body}`);
    }
    signs[name] = kms.commandCalls(SignCommand).length;
    if (name === 'batchMax') {
      for (const call of dynamo.commandCalls(TransactWriteItemsCommand)) {
        for (const item of call.args[0].input.TransactItems ?? []) {
          const written = item.Put?.Item;
          if (!written) continue;
          transactionUnits += 2 * writeUnits(written);
          // Each GSI the item appears in is one more (non-transactional) write of the projected item.
          gsiUnits += Object.values(LEDGER_INDEXES)
            .filter((index) => written[index.partitionKey.name] !== undefined)
            .reduce(
              (sum, index) =>
                sum + writeUnits(projectedItem(written, index.partitionKey.name, index.sortKey.name)),
              0,
            );
          if (written.record) eventCount += 1;
        }
      }
    }
  }
  kms.restore();
  dynamo.restore();
  return {
    kmsSignCallsPer1000Events: signs,
    dynamoWriteUnitsPerEvent: transactionUnits / eventCount,
    dynamoGsiWriteUnitsPerEvent: gsiUnits / eventCount,
  };
}

/** The part of an item an index stores: table keys, index keys and the projected attributes. */
function projectedItem(item: Record<string, AttributeValue>, ...indexKeys: string[]) {
  const names = ['pk', 'sk', ...indexKeys, ...LEDGER_INDEX_PROJECTION.nonKeyAttributes];
  return Object.fromEntries(
    names.filter((name) => item[name] !== undefined).map((name) => [name, item[name]!]),
  );
}

/** One P-256 signature (what KMS does per request), as a round of 200 signatures of a checkpoint body. */
function signRound(): Round {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const body = Buffer.from(
    'audit.example.com/bench/platform/0\n123456\nq1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c=\n',
  );
  return {
    events: 200,
    run: async () => {
      for (let i = 0; i < 200; i++) cryptoSign('sha256', body, { key: privateKey, dsaEncoding: 'der' });
    },
  };
}

const writerCaller = { tenant: 'platform', shards: 1, roles: new Set(['writer'] as const) };
const identity = {
  principalArn: WRITER,
  accountId: '111111111111',
  sourceIp: '203.0.113.10',
  userAgent: 'bench',
};

/**
 * A ledger with no I/O: it keeps only each log's head, so the core's own work is all that is measured.
 * Nothing is ever found, so every request appends (as fresh events do).
 */
class HeadOnlyStore implements LedgerStore {
  private readonly heads = new Map<string, LogHead>();
  async readHead(origin: string): Promise<LogHead> {
    return this.heads.get(origin) ?? { origin, size: 0, frontier: [], checkpoint: null };
  }
  async getEvents(): Promise<Map<string, StoredEvent>> {
    return new Map();
  }
  async commitAppend(append: AppendRecord): Promise<void> {
    this.heads.set(append.origin, {
      origin: append.origin,
      size: append.size,
      frontier: append.frontier,
      checkpoint: append.checkpoint,
    });
  }
  async getAppend(): Promise<undefined> {
    return undefined;
  }
  async listAppends() {
    return { appends: [] };
  }
  async registerKey(): Promise<void> {}
  async listKeys() {
    return [];
  }
  async queryEvents() {
    return { events: [] };
  }
}

/** A signer whose signature is canned: the core's figure excludes the one signature per request. */
const cannedSigner = (signature: Uint8Array): Signer => ({
  sign: async () => ({ keyId: KEY_ARN, algorithm: 'ECDSA_SHA_256', signature }),
  publicKey: async () => ({ keyId: KEY_ARN, algorithm: 'ECDSA_SHA_256', publicKeyPem: '' }),
});

/**
 * Core CPU per event: the ingest use case with ports that do no I/O: parse the body (strict JSON),
 * validate, build and canonicalize records, hash, extend the log, prove every leaf, build the receipts.
 */
export function coreRound(): Round {
  const bodies = Array.from({ length: 20 }, (_, b) =>
    JSON.stringify({
      events: Array.from({ length: LIMITS.maxBatchEvents }, (_, i) => benchEvent(b * 1000 + i)),
    }),
  );
  const ingest = createIngest({
    store: new HeadOnlyStore(),
    signer: cannedSigner(new Uint8Array(72)),
    deploymentOrigin: 'audit.example.com/bench',
  });
  return {
    events: bodies.length * LIMITS.maxBatchEvents,
    run: async () => {
      for (const body of bodies) {
        await ingest({ caller: writerCaller, identity, receivedAt: new Date(), body: parseJsonStrict(body) });
      }
    },
  };
}

/**
 * The same work through the real HTTP handler, ledger adapter and KMS adapter, with the AWS SDK clients'
 * HTTP layer answering canned responses: request serialization, SigV4 signing and response parsing
 * (marshalling) are all included; only the network is not.
 */
export function sdkRound(): Round {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const cannedSignature = cryptoSign('sha256', Buffer.from('canned'), {
    key: privateKey,
    dsaEncoding: 'der',
  }).toString('base64');
  const spki = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  const answer = (target: string): unknown => {
    switch (target) {
      case 'DynamoDB_20120810.Query':
        return { Items: [], Count: 0, ScannedCount: 0 };
      case 'DynamoDB_20120810.BatchGetItem':
        return { Responses: { [TABLE]: [] }, UnprocessedKeys: {} };
      case 'DynamoDB_20120810.TransactWriteItems':
      case 'DynamoDB_20120810.PutItem':
        return {};
      case 'TrentService.Sign':
        return { KeyId: KEY_ARN, Signature: cannedSignature, SigningAlgorithm: 'ECDSA_SHA_256' };
      case 'TrentService.GetPublicKey':
        return {
          KeyId: KEY_ARN,
          PublicKey: spki,
          SigningAlgorithms: ['ECDSA_SHA_256'],
          KeyUsage: 'SIGN_VERIFY',
        };
      default:
        throw new Error(`bench: no canned response for ${target}`);
    }
  };
  const requestHandler = {
    handle: async (request: { headers: Record<string, string> }) => ({
      // The shape of @smithy's HttpResponse: the SDK's deserializers read these three fields.
      response: {
        statusCode: 200,
        headers: { 'content-type': 'application/x-amz-json-1.0' },
        body: Readable.from([Buffer.from(JSON.stringify(answer(request.headers['x-amz-target'] ?? '')))]),
      },
    }),
    updateHttpClientConfig: () => {},
    httpHandlerConfigs: () => ({}),
  };
  const clientConfig = {
    region: 'eu-west-1',
    credentials: { accessKeyId: 'BENCH', secretAccessKey: 'bench' },
    requestHandler,
  };
  const store = new DynamoLedgerStore(new DynamoDBClient(clientConfig), TABLE);
  const signer = new KmsSigner(new KMSClient(clientConfig), 'alias/audit-trail-bench', 'ECDSA_SHA_256');
  const handle = createIngestHandler({
    tenants: TENANTS,
    ingest: createIngest({ store, signer, deploymentOrigin: 'audit.example.com/bench' }),
  });
  const requests = Array.from({ length: 20 }, (_, b) =>
    requestFor(Array.from({ length: LIMITS.maxBatchEvents }, (_, i) => benchEvent(b * 1000 + i))),
  );
  return {
    events: requests.length * LIMITS.maxBatchEvents,
    run: async () => {
      for (const request of requests) {
        const response = await handle(request);
        if (response.statusCode !== 201) throw new Error(`bench handler failed: ${response.body}`);
      }
    },
  };
}

/** One measured unit of work and the events it ingests. */
export interface Round {
  readonly events: number;
  readonly run: () => Promise<void>;
}

/**
 * CPU per event of the core, of the handler with the SDK, and of one P-256 signature, measured in
 * alternation (sign, core, SDK; `rounds` times) so that a busy moment of the machine weighs on all three
 * alike; each figure is the median of its rounds and each ratio the median of the per-round ratios.
 */
export async function ingestCpuFigures(rounds = 15) {
  const core = coreRound();
  const sdk = sdkRound();
  const sign = signRound();
  await core.run();
  await sdk.run();
  await sign.run();
  const samples = {
    core: [] as number[],
    sdk: [] as number[],
    sign: [] as number[],
    coreVsSign: [] as number[],
    sdkVsCore: [] as number[],
  };
  for (let i = 0; i < rounds; i++) {
    const signMicros = (await cpuMicros(sign.run)) / sign.events;
    const coreMicros = (await cpuMicros(core.run)) / core.events;
    const sdkMicros = (await cpuMicros(sdk.run)) / sdk.events;
    samples.sign.push(signMicros);
    samples.core.push(coreMicros);
    samples.sdk.push(sdkMicros);
    samples.coreVsSign.push(coreMicros / signMicros);
    samples.sdkVsCore.push(sdkMicros / coreMicros);
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  return {
    p256SignMicros: median(samples.sign),
    coreMicrosPerEvent: median(samples.core),
    sdkMicrosPerEvent: median(samples.sdk),
    coreVsSign: median(samples.coreVsSign),
    sdkVsCore: median(samples.sdkVsCore),
  };
}
