import { sign } from 'node:crypto';
import {
  BatchGetItemCommand,
  type BatchGetItemCommandInput,
  DynamoDBClient,
  DynamoDBServiceException,
  TransactWriteItemsCommand,
  type TransactWriteItemsCommandInput,
} from '@aws-sdk/client-dynamodb';
import { KMSClient, KMSServiceException, SignCommand } from '@aws-sdk/client-kms';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { afterAll, describe, expect, it } from 'vitest';
import { DynamoLedgerStore } from '#adapters/dynamo-ledger-store.ts';
import { KmsSigner } from '#adapters/kms-signer.ts';
import { LocalSigner } from '#adapters/local-signer.ts';
import type { SignedCheckpoint } from '#core/checkpoint.ts';
import { createIngest } from '#core/ingest.ts';
import { toHex } from '#core/merkle.ts';
import {
  AppendConflictError,
  type AppendRecord,
  type EventPage,
  type EventQuery,
  type LedgerStore,
  type LogHead,
  type StoredEvent,
} from '#core/ports.ts';
import { type Receipt, verifyReceipt } from '#core/receipt.ts';
import type { AuditEventInput } from '#core/schema.ts';
import { keyMap, type PublicKeyInfo, type Signature, type Signer } from '#core/signer.ts';
import { LogVerifier } from '#core/verify-log.ts';
import { appendToJson } from '#core/wire.ts';
import { createIngestHandler } from '../../lambdas/http/ingest.ts';
import { makeEvent } from '../support/events.ts';
import { LEDGER_TABLE_DEFINITION, mockDynamoDb } from '../support/fake-dynamodb.ts';
import { fakeKmsKey, mockKms } from '../support/fake-kms.ts';
import { MemoryLedgerStore } from '../support/memory-ledger-store.ts';
import {
  ACCOUNT,
  auditorApi,
  DEPLOYMENT_ORIGIN,
  originOf,
  type Prng,
  postEvent,
  printCounts,
  prng,
  TENANT,
  tenantsConfig,
} from '../support/reliability-kit.ts';

/**
 * Crash injection on the append path. Each request may fail at one seeded point: reading the head or the
 * existing events, signing (KMS throttled), registering the key, after signing but before the commit, in a
 * commit that stored everything but lost its response (or was retried by the SDK and lost its condition),
 * or after the whole request succeeded but before the response left the function. A lost race (another
 * writer's append slipping in before the commit) is injected too. After any failure the function's
 * container starts afresh (as Lambda does after a crash) and the client retries the same batch.
 *
 * Afterwards: every event is stored exactly once; each log's appends chain without fork or gap (every
 * checkpoint extends the previous one, sizes strictly increase); the receipts clients got verify, match
 * what the read API rebuilds, and lie on the log; a replay of the whole log through LogVerifier passes.
 */

type FaultPoint =
  | 'read-head'
  | 'get-events'
  | 'sign'
  | 'register-key'
  | 'after-sign'
  | 'commit-lost-response'
  | 'commit-sdk-retry'
  | 'before-response'
  | 'race';
const FAULT_POINTS: readonly FaultPoint[] = [
  'read-head',
  'get-events',
  'sign',
  'register-key',
  'after-sign',
  'commit-lost-response',
  'commit-sdk-retry',
  'before-response',
  'race',
];

/** One fault, armed for the next request; consumed where it fires. */
class FaultPlan {
  armed: FaultPoint | undefined;
  readonly fired = new Map<FaultPoint, number>();

  take(point: FaultPoint): boolean {
    if (this.armed !== point) return false;
    this.armed = undefined;
    this.fired.set(point, (this.fired.get(point) ?? 0) + 1);
    return true;
  }
}

const networkError = (message: string) => Object.assign(new Error(message), { name: 'TimeoutError' });

/** A store whose calls fail where the plan says; `race` lets another writer commit first. */
class FaultyStore implements LedgerStore {
  constructor(
    private readonly inner: LedgerStore,
    private readonly plan: FaultPlan,
    private readonly competitor: () => Promise<void>,
  ) {}

  readHead(origin: string): Promise<LogHead> {
    if (this.plan.take('read-head')) throw networkError('readHead: connection reset');
    return this.inner.readHead(origin);
  }
  getEvents(tenant: string, eventIds: readonly string[]): Promise<Map<string, StoredEvent>> {
    if (this.plan.take('get-events')) throw networkError('getEvents: connection reset');
    return this.inner.getEvents(tenant, eventIds);
  }
  async commitAppend(append: AppendRecord, events: readonly StoredEvent[]): Promise<void> {
    if (this.plan.take('after-sign')) throw networkError('the function crashed after signing');
    if (this.plan.take('race')) await this.competitor();
    await this.inner.commitAppend(append, events);
    if (this.plan.take('commit-lost-response')) throw networkError('commit stored, response lost');
    // The SDK's own retry of a transaction that had landed: its conditions now fail on our own items.
    if (this.plan.take('commit-sdk-retry')) throw new AppendConflictError('duplicate_event');
  }
  getAppend(origin: string, start: number): Promise<AppendRecord | undefined> {
    return this.inner.getAppend(origin, start);
  }
  listAppends(origin: string, fromStart: number, limit: number) {
    return this.inner.listAppends(origin, fromStart, limit);
  }
  async registerKey(key: PublicKeyInfo): Promise<void> {
    if (this.plan.take('register-key')) throw networkError('registerKey: connection reset');
    return this.inner.registerKey(key);
  }
  listKeys(): Promise<PublicKeyInfo[]> {
    return this.inner.listKeys();
  }
  queryEvents(query: EventQuery): Promise<EventPage> {
    return this.inner.queryEvents(query);
  }
}

/** Records every checkpoint body signed, and throttles when the plan says. */
class FaultySigner implements Signer {
  readonly signed: string[] = [];
  constructor(
    private readonly inner: Signer,
    private readonly plan: FaultPlan,
  ) {}
  async sign(message: Uint8Array): Promise<Signature> {
    if (this.plan.take('sign'))
      throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    const signature = await this.inner.sign(message);
    this.signed.push(new TextDecoder().decode(message));
    return signature;
  }
  publicKey(keyId?: string): Promise<PublicKeyInfo> {
    return this.inner.publicKey(keyId);
  }
}

interface Scenario {
  readonly name: string;
  readonly store: LedgerStore;
  readonly signer: Signer;
  readonly plan: FaultPlan;
  /** Points this scenario injects faults at (the others are armed through the adapters' SDK mocks). */
  readonly points: readonly FaultPoint[];
  readonly batches: number;
  readonly seed: number;
  readonly shards: number;
  /** Arms a fault in the ports below the adapters, where a scenario injects it there instead. */
  readonly arm?: (point: FaultPoint) => void;
  /** How often a fault has fired so far (all plans of the scenario). */
  readonly fired?: (point: FaultPoint) => number;
}

interface Outcome {
  readonly receipts: Receipt[];
  readonly sent: AuditEventInput[];
  readonly attempts: number;
  readonly failures: number;
  /** Batches whose commit landed but whose answer never reached the client. */
  readonly lostResponses: number;
  /** Of those, the ones whose retry was answered as a replay (200) with the original receipts. */
  readonly replayedAfterLoss: number;
  readonly seenCheckpoints: SignedCheckpoint[];
}

/** Sends batches through the HTTP handler, failing requests where the plan says and retrying them. */
async function run(scenario: Scenario): Promise<Outcome> {
  const random: Prng = prng(scenario.seed);
  const { plan } = scenario;
  let shard = 0;
  let clock = Date.UTC(2026, 2, 1, 9, 0, 0);
  let competitorBatches = 0;
  const sent: AuditEventInput[] = [];
  const receipts: Receipt[] = [];
  const seenCheckpoints: SignedCheckpoint[] = [];
  /** A Lambda container: module-scope state (the registered-key cache) lives and dies with it. */
  const container = () =>
    createIngestHandler({
      tenants: tenantsConfig(scenario.shards),
      ingest: createIngest({
        store: scenario.store,
        signer: scenario.signer,
        deploymentOrigin: DEPLOYMENT_ORIGIN,
        pickShard: () => shard,
      }),
    });
  // Another writer on the same log, racing the request under test (its own container, never faulted).
  const competitor = async () => {
    const batch = Array.from({ length: random.between(1, 5) }, (_, i) =>
      makeEvent(`${scenario.name}-rival-${competitorBatches}-${i}`),
    );
    competitorBatches++;
    sent.push(...batch);
    const response = await container()(postEvent(JSON.stringify({ events: batch }), {}));
    if (response.statusCode !== 201) throw new Error(`competitor got ${response.statusCode}`);
    receipts.push(...(JSON.parse(response.body) as { receipts: Receipt[] }).receipts);
  };
  competitorRef.current = competitor;
  const fired = scenario.fired ?? ((point: FaultPoint) => plan.fired.get(point) ?? 0);
  let handler = container();
  let attempts = 0;
  let failures = 0;
  let lostResponses = 0;
  let replayedAfterLoss = 0;
  for (let b = 0; b < scenario.batches; b++) {
    const batch = Array.from({ length: random.between(1, 20) }, (_, i) =>
      makeEvent(`${scenario.name}-${b}-${i}`),
    );
    sent.push(...batch);
    shard = random.int(scenario.shards);
    let lost = false;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 8) throw new Error(`batch ${b} never went through`);
      attempts++;
      clock += 1000;
      const fault = random.chance(attempt === 0 ? 0.7 : attempt === 1 ? 0.3 : 0)
        ? random.pick(scenario.points)
        : undefined;
      plan.armed = fault;
      if (fault) scenario.arm?.(fault);
      const landedBefore = fired('commit-lost-response');
      let response: APIGatewayProxyResult | undefined;
      try {
        const request = postEvent(JSON.stringify({ events: batch }));
        response = await handler({
          ...request,
          requestContext: { ...request.requestContext, requestTimeEpoch: clock },
        });
        if (plan.take('before-response')) {
          // The function did everything, then died: the client sees a 502, the receipts are lost.
          seenCheckpoints.push(
            ...(JSON.parse(response.body) as { receipts: Receipt[] }).receipts.map((r) => r.checkpoint),
          );
          response = undefined;
          lost = true;
        }
      } catch (error) {
        throw new Error(`the handler threw instead of answering: ${String(error)}`);
      }
      plan.armed = undefined;
      if (response && (response.statusCode === 200 || response.statusCode === 201)) {
        const got = (JSON.parse(response.body) as { receipts: Receipt[] }).receipts;
        expect(got.map((receipt) => receipt.eventId)).toEqual(batch.map((event) => event.id));
        if (lost) lostResponses++;
        if (lost && response.statusCode === 200) replayedAfterLoss++;
        receipts.push(...got);
        seenCheckpoints.push(...got.map((receipt) => receipt.checkpoint));
        break;
      }
      if (response && ![429, 500, 502, 503].includes(response.statusCode)) {
        throw new Error(`batch ${b}: unexpected ${response.statusCode} ${response.body}`);
      }
      // A commit that landed but whose answer was lost is a lost response too (the retry must replay it).
      if (fired('commit-lost-response') > landedBefore) lost = true;
      failures++;
      handler = container();
    }
  }
  return { receipts, sent, attempts, failures, lostResponses, replayedAfterLoss, seenCheckpoints };
}

const competitorRef: { current: () => Promise<void> } = { current: async () => undefined };

const sameCheckpoint = (a: SignedCheckpoint | null, b: SignedCheckpoint | null) =>
  a === b ||
  (a !== null && b !== null && a.body === b.body && a.signature === b.signature && a.keyId === b.keyId);

/** Every invariant of the log after the run; returns the counts it checked. */
async function checkLog(
  store: LedgerStore,
  scenario: Scenario,
  outcome: Outcome,
  signedBodies: readonly string[],
) {
  const keys = keyMap(await store.listKeys());
  const api = auditorApi(store, scenario.shards);
  const logCheckpoints = new Set<string>();
  let leaves = 0;
  let appends = 0;
  let forks = 0;
  let gaps = 0;
  const verified = new Map<string, number>();
  for (let shard = 0; shard < scenario.shards; shard++) {
    const origin = originOf(shard);
    const { appends: list } = await store.listAppends(origin, 0, 100_000);
    let previous: AppendRecord | undefined;
    for (const append of list) {
      appends++;
      logCheckpoints.add(append.checkpoint.body);
      if (append.start !== (previous?.size ?? 0)) gaps++;
      if (!(append.size > append.start) || !sameCheckpoint(append.previous, previous?.checkpoint ?? null))
        forks++;
      const frontier = (previous?.frontier ?? []).map(toHex).join();
      if (append.previousFrontier.map(toHex).join() !== frontier) forks++;
      previous = append;
    }
    // The whole log replayed, and it must pass through every checkpoint a client was ever shown.
    const verifier = new LogVerifier({
      origin,
      keys,
      knownCheckpoints: outcome.seenCheckpoints.filter((checkpoint) =>
        checkpoint.body.startsWith(`${origin}\n`),
      ),
    });
    for await (const append of api.appends(origin, 0, 50)) {
      const failure = verifier.push(append);
      expect(failure).toBeUndefined();
    }
    const result = verifier.finish();
    expect(result.failure).toBeUndefined();
    expect(result.unchecked).toBe(0);
    leaves += result.leaves;
    verified.set(origin, result.size);
    expect(previous ? appendToJson(previous).size : 0).toBe(result.size);
  }
  // Every event exactly once.
  const stored = await store.getEvents(
    TENANT,
    outcome.sent.map((event) => event.id),
  );
  const positions = new Set([...stored.values()].map((event) => `${event.origin}#${event.leafIndex}`));
  // Receipts verify, match the read API's rebuilt receipt, and name a checkpoint of the log.
  let receiptsVerified = 0;
  for (const receipt of outcome.receipts) {
    const event = stored.get(receipt.eventId)!;
    expect(verifyReceipt(event.record, receipt, keys)).toEqual({ ok: true });
    const rebuilt = await api.event(receipt.eventId);
    expect(rebuilt.body.receipt).toEqual(receipt);
    expect(logCheckpoints.has(receipt.checkpoint.body)).toBe(true);
    receiptsVerified++;
  }
  const orphanSignatures = signedBodies.filter((body) => !logCheckpoints.has(body)).length;
  const leakedOrphans = outcome.seenCheckpoints.filter(
    (checkpoint) => !logCheckpoints.has(checkpoint.body),
  ).length;
  return {
    events: outcome.sent.length,
    stored: stored.size,
    distinctLeaves: positions.size,
    leaves,
    appends,
    forks,
    gaps,
    receiptsVerified,
    orphanSignatures,
    leakedOrphans,
  };
}

function expectClean(counts: Awaited<ReturnType<typeof checkLog>>, outcome: Outcome) {
  expect(counts.stored).toBe(counts.events);
  expect(counts.distinctLeaves).toBe(counts.events);
  expect(counts.leaves).toBe(counts.events);
  expect(counts.forks).toBe(0);
  expect(counts.gaps).toBe(0);
  expect(counts.leakedOrphans).toBe(0);
  expect(counts.receiptsVerified).toBe(outcome.receipts.length);
  expect(outcome.receipts.length).toBe(counts.events);
  expect(outcome.replayedAfterLoss).toBe(outcome.lostResponses);
}

describe('crash injection on the append path (core over the in-memory store)', () => {
  it('retries after a failure at every point leave one chained log: no fork, no gap, every event once, receipts valid', async () => {
    const plan = new FaultPlan();
    const memory = new MemoryLedgerStore();
    const store = new FaultyStore(memory, plan, () => competitorRef.current());
    const signer = new FaultySigner(LocalSigner.generate('p256'), plan);
    const scenario: Scenario = {
      name: 'memory',
      store,
      signer,
      plan,
      points: FAULT_POINTS,
      batches: 300,
      seed: 4242,
      shards: 2,
    };
    const outcome = await run(scenario);
    const counts = await checkLog(memory, scenario, outcome, signer.signed);
    printCounts('crash-injection memory', {
      ...counts,
      attempts: outcome.attempts,
      failedAttempts: outcome.failures,
      lostResponses: outcome.lostResponses,
      replayedAfterLoss: outcome.replayedAfterLoss,
      faults: [...plan.fired].map(([point, n]) => `${point}:${n}`).join(','),
    });
    expectClean(counts, outcome);
    // Every injection point fired, so each was survived.
    expect([...plan.fired.keys()].sort()).toEqual([...FAULT_POINTS].sort());
    // A signature made for an append that never committed exists (after-sign, races), but none reached a client.
    expect(counts.orphanSignatures).toBeGreaterThan(0);
  });
});

describe('crash injection below the adapters (DynamoDB and KMS SDK calls, fake services)', () => {
  const TABLE = 'rel-crash-ledger';
  const KEY_ALIAS = 'alias/rel-crash';
  const key = fakeKmsKey({ keyArn: `arn:aws:kms:eu-west-1:${ACCOUNT}:key/crash`, aliases: [KEY_ALIAS] });
  const kms = mockKms([key]);
  const { db, mock: dynamo } = mockDynamoDb({ [TABLE]: LEDGER_TABLE_DEFINITION });
  afterAll(() => {
    kms.restore();
    dynamo.restore();
  });

  it('survives a transaction that landed but lost its answer, an SDK retry of it, throttling and a dead read', async () => {
    const sdk = new FaultPlan();
    const sdkFault = (point: FaultPoint) => sdk.take(point);
    dynamo.on(TransactWriteItemsCommand).callsFake((input: TransactWriteItemsCommandInput) => {
      if (sdkFault('after-sign')) {
        throw new DynamoDBServiceException({
          name: 'ProvisionedThroughputExceededException',
          $fault: 'client',
          $metadata: {},
          message: 'slow down',
        });
      }
      const output = db.transactWriteItems(input);
      if (sdkFault('commit-lost-response'))
        throw networkError('socket hang up after the transaction committed');
      // The SDK retried the landed transaction: DynamoDB cancels it, every put's condition failing.
      if (sdkFault('commit-sdk-retry')) return db.transactWriteItems(input);
      return output;
    });
    dynamo.on(BatchGetItemCommand).callsFake((input: BatchGetItemCommandInput) => {
      if (sdkFault('get-events'))
        throw new DynamoDBServiceException({
          name: 'InternalServerError',
          $fault: 'server',
          $metadata: {},
          message: 'internal',
        });
      return db.batchGetItem(input);
    });
    kms.on(SignCommand).callsFake((input) => {
      if (sdkFault('sign'))
        throw new KMSServiceException({
          name: 'ThrottlingException',
          $fault: 'client',
          $metadata: {},
          message: 'Rate exceeded',
        });
      return kmsSign(input);
    });
    const plan = new FaultPlan();
    const inner = new DynamoLedgerStore(new DynamoDBClient({ region: 'eu-west-1' }), TABLE);
    const store = new FaultyStore(inner, plan, () => competitorRef.current());
    const signer = new FaultySigner(
      new KmsSigner(new KMSClient({ region: 'eu-west-1' }), KEY_ALIAS, 'ECDSA_SHA_256'),
      plan,
    );
    const points: FaultPoint[] = [
      'after-sign',
      'commit-lost-response',
      'commit-sdk-retry',
      'get-events',
      'sign',
      'before-response',
      'race',
    ];
    const scenario: Scenario = {
      fired: (point) => (sdk.fired.get(point) ?? 0) + (plan.fired.get(point) ?? 0),
      name: 'dynamo',
      store,
      signer,
      plan,
      points,
      batches: 80,
      seed: 777,
      shards: 1,
      // SDK-level faults are armed in the mocks; the handler-level ones stay with the store/handler plan.
      arm: (point) => {
        if (point !== 'before-response' && point !== 'race') {
          sdk.armed = point;
          plan.armed = undefined;
        }
      },
    };
    const outcome = await run(scenario);
    const counts = await checkLog(inner, scenario, outcome, signer.signed);
    printCounts('crash-injection dynamodb+kms', {
      ...counts,
      attempts: outcome.attempts,
      failedAttempts: outcome.failures,
      lostResponses: outcome.lostResponses,
      replayedAfterLoss: outcome.replayedAfterLoss,
      items: db.items(TABLE).length,
      faults: [...sdk.fired, ...plan.fired].map(([point, n]) => `${point}:${n}`).join(','),
    });
    expectClean(counts, outcome);
    expect(sdk.fired.size).toBe(5);
  });

  /** The fake's own Sign (the mock's handler was replaced above to inject throttling). */
  function kmsSign(input: { Message?: Uint8Array; KeyId?: string }) {
    return {
      $metadata: {},
      KeyId: key.keyArn,
      Signature: new Uint8Array(
        sign('sha256', input.Message ?? new Uint8Array(), { key: key.privateKey, dsaEncoding: 'der' }),
      ),
      SigningAlgorithm: key.algorithm,
    };
  }
});
