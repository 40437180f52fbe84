import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { LocalSigner } from '#adapters/local-signer.ts';
import { eventLine } from '#core/archive-layout.ts';
import { canonicalize } from '#core/canonical.ts';
import { createIngest } from '#core/ingest.ts';
import { EventLinesReader } from '#core/line-kernel.ts';
import { leafHash, toHex } from '#core/merkle.ts';
import type { AppendRecord, EventPage, LedgerStore, LogHead, StoredEvent } from '#core/ports.ts';
import type { Receipt } from '#core/receipt.ts';
import type { AuditEventInput } from '#core/schema.ts';
import { keyMap, type PublicKeyInfo } from '#core/signer.ts';
import {
  type BytesLeaf,
  checkEventPosition,
  describeFailure,
  hasTopLevelId,
  LogVerifier,
  type LogVerifierOptions,
  type VerifiableAppend,
  type VerifyFailure,
} from '#core/verify-log.ts';
import { type AppendWithLeavesJson, appendToJson, type LeafJson } from '#core/wire.ts';

/** Just enough of the ledger for the real ingest use case to build logs in memory. */
class MemoryStore implements LedgerStore {
  readonly appends = new Map<string, AppendRecord[]>();
  readonly events = new Map<string, StoredEvent>();
  readonly keys: PublicKeyInfo[] = [];

  async readHead(origin: string): Promise<LogHead> {
    const last = this.appends.get(origin)?.at(-1);
    return last
      ? { origin, size: last.size, frontier: last.frontier, checkpoint: last.checkpoint }
      : { origin, size: 0, frontier: [], checkpoint: null };
  }
  async getEvents(_tenant: string, ids: readonly string[]) {
    return new Map(ids.flatMap((id) => (this.events.has(id) ? [[id, this.events.get(id)!] as const] : [])));
  }
  async commitAppend(append: AppendRecord, events: readonly StoredEvent[]) {
    this.appends.set(append.origin, [...(this.appends.get(append.origin) ?? []), append]);
    for (const event of events) this.events.set(event.eventId, event);
  }
  async getAppend(origin: string, start: number) {
    return this.appends.get(origin)?.find((append) => append.start === start);
  }
  async listAppends(origin: string, fromStart: number, limit: number) {
    const all = (this.appends.get(origin) ?? []).filter((append) => append.start >= fromStart);
    return { appends: all.slice(0, limit) };
  }
  async registerKey(key: PublicKeyInfo) {
    if (!this.keys.some((known) => known.keyId === key.keyId)) this.keys.push(key);
  }
  async listKeys() {
    return this.keys;
  }
  async queryEvents(): Promise<EventPage> {
    return { events: [] };
  }
}

const TENANT = 'acme';
const ORIGIN = `test.example/${TENANT}/0`;

function event(n: number, extra: Partial<AuditEventInput> = {}): AuditEventInput {
  return {
    id: randomUUID(),
    time: '2026-01-31T12:00:00Z',
    action: 'deployment.apply',
    category: 'deployment',
    outcome: 'success',
    actor: { type: 'user', id: `user-${n}` },
    resources: [{ type: 'stack', id: `stack-${n}` }],
    source: { system: 'ci' },
    ...extra,
  };
}

interface BuiltLog {
  appends: AppendWithLeavesJson[];
  receipts: Map<string, Receipt>;
  keys: ReadonlyMap<string, PublicKeyInfo>;
}

/** Builds a log with the real ingest use case: one append per batch. */
async function buildLog(signer: LocalSigner, batches: AuditEventInput[][]): Promise<BuiltLog> {
  const store = new MemoryStore();
  const ingest = createIngest({ store, signer, deploymentOrigin: 'test.example', pickShard: () => 0 });
  const receipts = new Map<string, Receipt>();
  let second = 0;
  for (const events of batches) {
    const result = await ingest({
      caller: { tenant: TENANT, shards: 1, roles: new Set(['writer']) },
      identity: {
        principalArn: 'arn:aws:iam::123456789012:role/ci',
        accountId: '123456789012',
        sourceIp: '10.0.0.1',
      },
      receivedAt: new Date(Date.UTC(2026, 0, 31, 12, 0, second++)),
      body: { events },
    });
    for (const receipt of result.receipts) receipts.set(receipt.eventId, receipt);
  }
  const appends = (store.appends.get(ORIGIN) ?? []).map((append) => ({
    ...appendToJson(append),
    leaves: append.eventIds.map((id): LeafJson => {
      const stored = store.events.get(id)!;
      return {
        leafIndex: stored.leafIndex,
        eventId: id,
        leafHash: toHex(stored.leafHash),
        record: JSON.parse(stored.record),
      };
    }),
  }));
  return { appends, receipts, keys: keyMap(store.keys) };
}

/** Runs a whole log through a verifier; the first failure, if any. */
function verify(
  log: BuiltLog,
  appends = log.appends,
  extra: Partial<ConstructorParameters<typeof LogVerifier>[0]> = {},
) {
  const verifier = new LogVerifier({ origin: ORIGIN, keys: log.keys, ...extra });
  for (const append of appends) verifier.push(append);
  return verifier.finish();
}

const clone = <T>(value: T): T => structuredClone(value);

describe('LogVerifier', () => {
  const signer = LocalSigner.generate();
  let log: BuiltLog;

  beforeAll(async () => {
    log = await buildLog(signer, [
      [event(0), event(1), event(2)],
      [event(3)],
      [event(4), event(5), event(6), event(7), event(8)],
      [event(9), event(10)],
    ]);
  });

  it('accepts a valid multi-append log and counts what it checked', () => {
    const result = verify(log);
    expect(result.failure).toBeUndefined();
    expect(result).toMatchObject({ size: 11, appends: 4, leaves: 11, signatures: 4 });
    expect(result.checkpoint).toEqual(log.appends[3]!.checkpoint);
  });

  it('accepts receipts issued by ingest and reports each verified leaf', () => {
    const leaves: number[] = [];
    const result = verify(log, log.appends, {
      receiptFor: (id) => log.receipts.get(id),
      onAppend: (append) => leaves.push(...append.eventIds.map((_, i) => append.start + i)),
    });
    expect(result.failure).toBeUndefined();
    expect(leaves).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('fails with leaf-hash at the changed leaf when one byte of a record changes', () => {
    const appends = clone(log.appends);
    const leaf = appends[2]!.leaves[1]!;
    leaf.record.action = 'deployment.applz';
    expect(verify(log, appends).failure).toMatchObject({
      check: 'leaf-hash',
      leafIndex: 5,
      eventId: leaf.eventId,
      appendStart: 4,
    });
  });

  it('fails with root when a record changes and no leaf hash is stored', () => {
    const appends = clone(log.appends);
    appends[2]!.leaves[1]!.record.action = 'deployment.applz';
    delete appends[2]!.leaves[1]!.leafHash;
    expect(verify(log, appends).failure).toMatchObject({ check: 'root', appendStart: 4 });
  });

  it('pins a changed record to its leaf through its receipt even without stored leaf hashes', () => {
    const appends = clone(log.appends);
    for (const leaf of appends[2]!.leaves) delete leaf.leafHash;
    appends[2]!.leaves[3]!.record.outcome = 'failure';
    const failure = verify(log, appends, { receiptFor: (id) => log.receipts.get(id) }).failure;
    expect(failure).toMatchObject({ check: 'receipt', leafIndex: 7, eventId: appends[2]!.eventIds[3] });
  });

  it('fails with missing-leaf when a leaf is deleted', () => {
    const appends = clone(log.appends);
    appends[2]!.leaves.splice(2, 1);
    expect(verify(log, appends).failure).toMatchObject({
      check: 'missing-leaf',
      leafIndex: 6,
      eventId: appends[2]!.eventIds[2],
    });
  });

  it('fails with leaf-order when two leaves are swapped', () => {
    const appends = clone(log.appends);
    const leaves = appends[0]!.leaves;
    [leaves[0], leaves[2]] = [leaves[2]!, leaves[0]!];
    expect(verify(log, appends).failure).toMatchObject({
      check: 'leaf-order',
      leafIndex: 0,
      eventId: appends[0]!.eventIds[0],
    });
  });

  it('fails with event-id when two records swap contents but keep their keys', () => {
    const appends = clone(log.appends);
    const [a, b] = [appends[2]!.leaves[0]!, appends[2]!.leaves[3]!];
    [a.record, b.record] = [b.record, a.record];
    expect(verify(log, appends).failure).toMatchObject({
      check: 'event-id',
      leafIndex: 4,
      eventId: a.eventId,
    });
  });

  it('fails with gap when an append is dropped', () => {
    const appends = clone(log.appends);
    appends.splice(1, 1);
    expect(verify(log, appends).failure).toMatchObject({ check: 'gap', leafIndex: 3, appendStart: 4 });
  });

  it('fails with gap when appends are reordered', () => {
    const appends = clone(log.appends);
    [appends[1], appends[2]] = [appends[2]!, appends[1]!];
    expect(verify(log, appends).failure).toMatchObject({ check: 'gap', leafIndex: 3 });
  });

  it('fails with truncated when a known later checkpoint is beyond the verified head (rollback)', () => {
    const head = log.appends[3]!.checkpoint;
    const result = verify(log, log.appends.slice(0, 3), { knownCheckpoints: [head] });
    expect(result.failure).toMatchObject({ check: 'truncated', leafIndex: 9 });
  });

  it('fails with truncated when the log is shorter than the size the API advertised', () => {
    const verifier = new LogVerifier({ origin: ORIGIN, keys: log.keys });
    for (const append of log.appends.slice(0, 2)) verifier.push(append);
    expect(verifier.finish({ expectedMinimumSize: 11 }).failure).toMatchObject({
      check: 'truncated',
      leafIndex: 4,
    });
  });

  it('accepts known checkpoints the log passes through, given early or at the end', () => {
    const known = log.appends.map((append) => append.checkpoint);
    expect(verify(log, log.appends, { knownCheckpoints: known }).failure).toBeUndefined();
    const verifier = new LogVerifier({ origin: ORIGIN, keys: log.keys });
    for (const append of log.appends) verifier.push(append);
    const result = verifier.finish({ knownCheckpoints: known });
    expect(result.failure).toBeUndefined();
    expect(result.unchecked).toBe(3);
  });

  it('fails with fork when a known checkpoint of the same size has another root', async () => {
    const other = await buildLog(signer, [[event(20), event(21), event(22)], [event(23)]]);
    const forked = other.appends[1]!.checkpoint;
    const result = verify(log, log.appends, { knownCheckpoints: [forked] });
    expect(result.failure).toMatchObject({ check: 'fork', appendStart: 3 });
    expect(verify(log, log.appends.slice(0, 2)).failure).toBeUndefined();
    const verifier = new LogVerifier({ origin: ORIGIN, keys: log.keys });
    for (const append of log.appends.slice(0, 2)) verifier.push(append);
    expect(verifier.finish({ knownCheckpoints: [forked] }).failure).toMatchObject({ check: 'fork' });
  });

  it('fails with fork when a known checkpoint has a size the log never signed', async () => {
    const other = await buildLog(signer, [[event(30), event(31)]]);
    expect(
      verify(log, log.appends, { knownCheckpoints: [other.appends[0]!.checkpoint] }).failure,
    ).toMatchObject({
      check: 'fork',
      appendStart: 0,
    });
  });

  it('fails with signature when a checkpoint signature is altered', () => {
    const appends = clone(log.appends);
    const signature = Buffer.from(appends[1]!.checkpoint.signature, 'base64');
    signature[signature.length - 1]! ^= 0x01;
    appends[1]!.checkpoint.signature = signature.toString('base64');
    expect(verify(log, appends).failure).toMatchObject({ check: 'signature', appendStart: 3 });
  });

  it('fails with unknown-key when a checkpoint is signed by a key nobody published', async () => {
    const rogue = LocalSigner.generate();
    const forged = await buildLog(rogue, [[event(40)]]);
    const appends = forged.appends.map((append) => ({ ...append, origin: ORIGIN }));
    expect(verify(log, appends).failure).toMatchObject({ check: 'unknown-key', appendStart: 0 });
  });

  it('fails with previous-checkpoint when an append does not name the last verified checkpoint', () => {
    const appends = clone(log.appends);
    appends[2]!.previous = appends[0]!.checkpoint;
    expect(verify(log, appends).failure).toMatchObject({ check: 'previous-checkpoint', appendStart: 4 });
  });

  it('fails with frontier when the stored frontier is not the recomputed one', () => {
    const appends = clone(log.appends);
    appends[1]!.frontier = [...appends[0]!.frontier];
    expect(verify(log, appends).failure).toMatchObject({ check: 'frontier', appendStart: 3 });
  });

  it('fails with checkpoint-format when a checkpoint body names another size', () => {
    const appends = clone(log.appends);
    appends[0]!.checkpoint.body = appends[0]!.checkpoint.body.replace('\n3\n', '\n4\n');
    expect(verify(log, appends).failure).toMatchObject({ check: 'checkpoint-format', appendStart: 0 });
  });

  it('fails with format on input that is not an append, and keeps the first failure', () => {
    const verifier = new LogVerifier({ origin: ORIGIN, keys: log.keys });
    expect(verifier.push({ start: 0 })).toMatchObject({ check: 'format', appendStart: 0 });
    expect(verifier.push(log.appends[0])).toMatchObject({ check: 'format' });
  });

  it('fails with format when the event ids are not all strings', () => {
    for (const eventIds of [[1, 2, 3], 'abc', [...log.appends[0]!.eventIds.slice(0, 2), null]]) {
      const appends = clone(log.appends);
      Object.assign(appends[0]!, { eventIds });
      expect(verify(log, appends).failure).toMatchObject({ check: 'format', appendStart: 0 });
    }
  });

  it('resumes from a trusted checkpoint and frontier', () => {
    const start = log.appends[1]!;
    const verifier = new LogVerifier({
      origin: ORIGIN,
      keys: log.keys,
      trustedStart: { checkpoint: start.checkpoint, frontier: start.frontier },
    });
    for (const append of log.appends.slice(2)) expect(verifier.push(append)).toBeUndefined();
    expect(verifier.size).toBe(11);
  });

  it('rejects a trusted start whose frontier does not fold to its checkpoint', () => {
    const verifier = new LogVerifier({
      origin: ORIGIN,
      keys: log.keys,
      trustedStart: {
        checkpoint: log.appends[1]!.checkpoint,
        frontier: log.appends[0]!.frontier.slice(0, 1).concat(log.appends[0]!.frontier),
      },
    });
    expect(verifier.push(log.appends[2])).toMatchObject({ check: 'frontier' });
  });

  it('describes a failure with its origin, leaf and event', () => {
    const failure: VerifyFailure = {
      origin: ORIGIN,
      check: 'leaf-hash',
      leafIndex: 5,
      eventId: 'e-5',
      message: 'changed',
    };
    expect(describeFailure(failure)).toBe(`leaf-hash: log ${ORIGIN}, leaf 5, event e-5: changed`);
  });
});

describe('checkEventPosition', () => {
  const sizes = new Map([[ORIGIN, 10]]);

  it('accepts an event inside the verified log', () => {
    expect(checkEventPosition({ eventId: 'e', origin: ORIGIN, leafIndex: 9 }, sizes)).toBeUndefined();
  });

  it('fails with orphan when an event claims a leaf beyond the verified size (rolled-back head)', () => {
    expect(checkEventPosition({ eventId: 'e', origin: ORIGIN, leafIndex: 10 }, sizes)).toMatchObject({
      check: 'orphan',
      leafIndex: 10,
      eventId: 'e',
    });
  });

  it('fails with orphan when an event names a log that was not verified', () => {
    expect(checkEventPosition({ eventId: 'e', origin: 'other/x/0', leafIndex: 0 }, sizes)).toMatchObject({
      check: 'orphan',
    });
  });
});

describe('LogVerifier property', () => {
  const signer = LocalSigner.generate();
  const text = fc.string({ minLength: 1, maxLength: 12, unit: 'grapheme-ascii' });
  const eventArb = fc.record({
    actor: text,
    resource: text,
    summary: fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: undefined }),
    n: fc.integer({ min: -1000, max: 1000 }),
  });
  const batchesArb = fc.array(fc.array(eventArb, { minLength: 1, maxLength: 4 }), {
    minLength: 1,
    maxLength: 4,
  });
  const encoder = new TextEncoder();
  const decoder = new TextDecoder('utf-8', { fatal: true });

  /** The record after one byte of its canonical JSON changed, if that is still a (different) JSON object. */
  function mutate(
    record: Record<string, unknown>,
    position: number,
    xor: number,
  ): Record<string, unknown> | undefined {
    const bytes = encoder.encode(canonicalize(record));
    const index = position % bytes.length;
    bytes[index]! ^= xor;
    try {
      const parsed: unknown = JSON.parse(decoder.decode(bytes));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
      // Some edits keep the value (e.g. a hex digit's case inside a \u escape): not a change to the record.
      return canonicalize(parsed) === canonicalize(record) ? undefined : (parsed as Record<string, unknown>);
    } catch {
      return undefined;
    }
  }

  it('detects any single-byte change to any record of a random log and names that leaf', async () => {
    await fc.assert(
      fc.asyncProperty(
        batchesArb,
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async (batches, pick, position, xor) => {
          const log = await buildLog(
            signer,
            batches.map((batch) =>
              batch.map((e, i) =>
                event(i, {
                  actor: { type: 'user', id: e.actor },
                  resources: [{ type: 'stack', id: e.resource }],
                  metadata: { n: e.n },
                  ...(e.summary ? { change: { summary: e.summary } } : {}),
                }),
              ),
            ),
          );
          const leaves = log.appends.flatMap((append) => append.leaves);
          const target = leaves[pick % leaves.length]!;
          const changed = mutate(target.record, position, xor);
          fc.pre(changed !== undefined);
          const appends = clone(log.appends);
          const leaf = appends
            .flatMap((append) => append.leaves)
            .find((candidate) => candidate.leafIndex === target.leafIndex)!;
          leaf.record = changed!;
          const failure = verify(log, appends).failure;
          expect(failure?.leafIndex).toBe(target.leafIndex);
          expect(['leaf-hash', 'event-id', 'record']).toContain(failure?.check);
        },
      ),
      { numRuns: 150 },
    );
  });
});

/** The log's leaves as an archive serves them: the record's stored canonical bytes instead of the record. */
const asText = (appends: readonly AppendWithLeavesJson[]): VerifiableAppend[] =>
  appends.map((append) => ({
    ...append,
    leaves: append.leaves.map(
      ({ record, ...leaf }): BytesLeaf => ({ ...leaf, recordBytes: Buffer.from(canonicalize(record)) }),
    ),
  }));

const textLeaf = (appends: VerifiableAppend[], leafIndex: number) =>
  appends.flatMap((append) => append.leaves).find((leaf) => leaf.leafIndex === leafIndex) as BytesLeaf & {
    leafHash?: string;
  };

/** A byte leaf's record as text. */
const textOf = (leaf: { readonly recordBytes: Uint8Array }) => Buffer.from(leaf.recordBytes).toString('utf8');

/** Replaces a byte leaf's record; `rehash` also stores the new bytes' hash (so only the id check can object). */
function setText(leaf: BytesLeaf, recordText: string, rehash: boolean): void {
  const recordBytes = Buffer.from(recordText, 'utf8');
  Object.assign(leaf, { recordBytes });
  if (rehash) Object.assign(leaf, { leafHash: toHex(leafHash(recordBytes)) });
}

describe('LogVerifier: leaves given as record bytes (the archive)', () => {
  const signer = LocalSigner.generate();
  let log: BuiltLog;

  beforeAll(async () => {
    log = await buildLog(signer, [
      [event(0), event(1), event(2)],
      [event(3, { change: { summary: 'with "quotes", \\ and \u00e9' } })],
      [event(4), event(5), event(6)],
    ]);
  });

  const verifyText = (appends: VerifiableAppend[], extra: Partial<LogVerifierOptions> = {}) =>
    verify(log, appends as AppendWithLeavesJson[], extra);

  it('verifies the same log as the records do, hashing the bytes as they are, and reports each leaf', () => {
    const texts: (string | undefined)[] = [];
    const result = verifyText(asText(log.appends), {
      receiptFor: (id) => log.receipts.get(id),
      onAppend: (append) => texts.push(...append.leaves.map((leaf) => textOf(leaf as BytesLeaf))),
    });
    expect(result.failure).toBeUndefined();
    expect(result).toMatchObject({ size: 7, appends: 3, leaves: 7, signatures: 3 });
    expect(texts).toEqual(log.appends.flatMap((a) => a.leaves.map((leaf) => canonicalize(leaf.record))));
  });

  it('accepts text and record leaves mixed in one append', () => {
    const appends = asText(log.appends);
    (appends[2]!.leaves as unknown[])[1] = log.appends[2]!.leaves[1];
    expect(verifyText(appends).failure).toBeUndefined();
  });

  it('fails with leaf-hash at the leaf whose stored text changed by one byte', () => {
    const appends = asText(log.appends);
    const leaf = textLeaf(appends, 5);
    setText(leaf, textOf(leaf).replace('deployment.apply', 'deployment.applz'), false);
    expect(verifyText(appends).failure).toMatchObject({
      check: 'leaf-hash',
      leafIndex: 5,
      eventId: leaf.eventId,
    });
  });

  it('fails with leaf-hash on text that equals the record but is not its canonical bytes', () => {
    const appends = asText(log.appends);
    const leaf = textLeaf(appends, 1);
    setText(leaf, JSON.stringify(JSON.parse(textOf(leaf)), null, 1), false);
    expect(verifyText(appends).failure).toMatchObject({ check: 'leaf-hash', leafIndex: 1 });
  });

  it('fails with event-id when the record text names another id, even with its hash stored', () => {
    const appends = asText(log.appends);
    const leaf = textLeaf(appends, 2);
    const record = JSON.parse(textOf(leaf));
    record.id = randomUUID();
    setText(leaf, canonicalize(record), true);
    expect(verifyText(appends).failure).toMatchObject({
      check: 'event-id',
      leafIndex: 2,
      eventId: leaf.eventId,
    });
  });

  it('fails with event-id when the append id appears only nested in the record or inside a key string', () => {
    for (const plant of [
      (record: Record<string, unknown>, id: string) => {
        record.actor = { id, type: 'user' };
      },
      (record: Record<string, unknown>, id: string) => {
        record.change = { before: { id }, summary: `","id":"${id}"` };
      },
      (record: Record<string, unknown>, id: string) => {
        // A top-level key ending in `"id`: its text ends `\"id":"<id>"`, the member's bytes inside a string.
        record['a"id'] = id;
      },
    ]) {
      const appends = asText(log.appends);
      const leaf = textLeaf(appends, 4);
      const record = JSON.parse(textOf(leaf));
      plant(record, leaf.eventId);
      record.id = randomUUID();
      setText(leaf, canonicalize(record), true);
      expect(textOf(leaf)).toContain(`"id":"${leaf.eventId}"`);
      expect(verifyText(appends).failure).toMatchObject({ check: 'event-id', leafIndex: 4 });
    }
  });

  it('fails with event-id when the leaf names another event than the append lists', () => {
    const appends = asText(log.appends);
    const leaf = textLeaf(appends, 0);
    Object.assign(leaf, { eventId: appends[0]!.eventIds[1] });
    expect(verifyText(appends).failure).toMatchObject({ check: 'event-id', leafIndex: 0 });
  });

  it('names the leaf when its text is not JSON: leaf-hash against a stored hash, record without one', () => {
    const appends = asText(log.appends);
    const leaf = textLeaf(appends, 6);
    setText(leaf, textOf(leaf).slice(1), false);
    expect(verifyText(appends).failure).toMatchObject({ check: 'leaf-hash', leafIndex: 6 });
    delete (leaf as { leafHash?: string }).leafHash;
    expect(verifyText(appends).failure).toMatchObject({ check: 'record', leafIndex: 6 });
    // Broken after its id, the text is still not the leaf: the root check names the append.
    setText(leaf, textOf(textLeaf(asText(log.appends), 6)).slice(0, -3), false);
    expect(verifyText(appends).failure).toMatchObject({ check: 'root', appendStart: 4 });
  });

  it('pins a changed text through its receipt when no leaf hash is stored', () => {
    const appends = asText(log.appends);
    for (const leaf of appends[2]!.leaves) delete (leaf as { leafHash?: string }).leafHash;
    const leaf = textLeaf(appends, 5);
    setText(leaf, textOf(leaf).replace('"success"', '"failure"'), false);
    const failure = verifyText(appends, { receiptFor: (id) => log.receipts.get(id) }).failure;
    expect(failure).toMatchObject({ check: 'receipt', leafIndex: 5 });
  });

  it('fails with format on a text leaf of the wrong shape', () => {
    for (const bad of [{ recordBytes: 42 }, { leafIndex: -1 }, { eventId: null }, { leafHash: 7 }]) {
      const appends = asText(log.appends);
      Object.assign(appends[1]!.leaves[0]!, bad);
      expect(verifyText(appends).failure).toMatchObject({ check: 'format', appendStart: 3 });
    }
  });
});

describe('LogVerifier: leaves checked and hashed by the line kernel (the archive fast path)', () => {
  const signer = LocalSigner.generate();
  let log: BuiltLog;

  beforeAll(async () => {
    log = await buildLog(signer, [[event(0), event(1), event(2)], [event(3)], [event(4), event(5)]]);
  });

  /** Each append's leaves written as the archiver's lines and read back by the kernel; undefined if refused. */
  function hashed(append: AppendWithLeavesJson, recordOf = (leaf: LeafJson) => canonicalize(leaf.record)) {
    const lines = append.leaves.map((leaf) => {
      const recordText = recordOf(leaf);
      const fields = {
        appendStart: append.start,
        eventId: leaf.eventId,
        leafIndex: leaf.leafIndex,
        origin: ORIGIN,
      };
      return `${eventLine({ ...fields, leafHash: toHex(leafHash(Buffer.from(recordText))) }, recordText)}\n`;
    });
    const reader = new EventLinesReader(ORIGIN);
    reader.load(Buffer.from(lines.join(''), 'utf8'));
    const leaves = EventLinesReader.leavesFor(append.start, append.eventIds);
    return reader.readLeaves(leaves, 0, leaves.count) ? leaves : undefined;
  }

  it('verifies the log as the records do, and reports each append with its leaf hashes', () => {
    const reported: string[] = [];
    const result = verify(
      log,
      log.appends.map((append) => ({ ...append, leaves: hashed(append) }) as never),
      { onAppend: (append) => reported.push(...append.leafHashes) },
    );
    expect(result.failure).toBeUndefined();
    expect(result).toMatchObject({ size: 6, appends: 3, leaves: 6, signatures: 3 });
    expect(result.frontier).toEqual(verify(log).frontier);
    expect(reported).toEqual(log.appends.flatMap((append) => append.leaves.map((leaf) => leaf.leafHash)));
  });

  it('fails with format when the leaves were read for another append', () => {
    const [first, second] = log.appends as [AppendWithLeavesJson, AppendWithLeavesJson];
    const verifier = new LogVerifier({ origin: ORIGIN, keys: log.keys });
    expect(verifier.push({ ...first, leaves: hashed(first) })).toBeUndefined();
    const failure = verifier.push({ ...second, leaves: hashed(first) });
    expect(failure).toMatchObject({ check: 'format', appendStart: second.start });
    // Equal ids are not enough: the leaves must have been read for this append's own list of ids.
    const again = new LogVerifier({ origin: ORIGIN, keys: log.keys });
    again.push({ ...first, leaves: hashed(first) });
    const copiedIds = { ...second, eventIds: [...second.eventIds] };
    expect(again.push({ ...copiedIds, leaves: hashed(second) })).toMatchObject({ check: 'format' });
  });

  it('fails with root when a record changed and its stored hash was rewritten to match', () => {
    const [first] = log.appends as [AppendWithLeavesJson];
    const changed = hashed(first, (leaf) =>
      canonicalize(leaf.leafIndex === 1 ? { ...leaf.record, outcome: 'failure' } : leaf.record),
    );
    expect(changed).toBeDefined();
    const verifier = new LogVerifier({ origin: ORIGIN, keys: log.keys });
    expect(verifier.push({ ...first, leaves: changed })).toMatchObject({ check: 'root', appendStart: 0 });
  });
});

describe('hasTopLevelId', () => {
  const id = 'e3b0c442-98fc-4c14-9afb-f4c8996fb924';
  it.each([
    ['the first member', `{"id":"${id}","x":1}`, true],
    ['a later member', `{"action":"a","actor":{"id":"u"},"id":"${id}"}`, true],
    ['the last member', `{"a":[1,{"b":"}"}],"id":"${id}"}`, true],
    ['after strings with escaped quotes and backslashes', `{"a":"\\\\","b":"\\"{","id":"${id}"}`, true],
    ['only nested in an object', `{"actor":{"id":"${id}"},"id":"other"}`, false],
    ['only nested in an array', `{"resources":[{"id":"${id}"}]}`, false],
    ['only inside a string', `{"a":"\\"id\\":\\"${id}\\"","id":"other"}`, false],
    [
      'inside a string that ends in an escaped backslash',
      `{"a":"x\\\\\\",\\"id\\":\\"${id}","id":"o"}`,
      false,
    ],
    ['with a longer value', `{"id":"${id}x"}`, false],
    ['as a prefix of another value', `{"id":"${id}","ids":1}`, true],
    ['missing', '{"a":1}', false],
    ['in text that is not an object', `["id","${id}"]`, false],
    [
      'after a long string ending in backslashes',
      `{"a":${JSON.stringify(`${'x'.repeat(40)}\\\\`)},"id":"${id}"}`,
      true,
    ],
    ['inside a long string', `{"a":${JSON.stringify(`${'x'.repeat(40)}","id":"${id}"`)},"id":"o"}`, false],
  ])('%s', (_name, text, expected) => {
    expect(hasTopLevelId(Buffer.from(text), id)).toBe(expected);
    if (expected) expect(JSON.parse(text).id).toBe(id);
  });

  it('agrees with JSON.parse on canonical records with ids planted anywhere', () => {
    const plantable = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.constant(id),
        fc.string(),
        // Long strings of quotes and backslashes: the scan finds where long strings end with indexOf.
        fc.string({ unit: fc.constantFrom('\\', '"', 'a', '{', '}', 'é'), minLength: 20, maxLength: 80 }),
        fc.integer(),
        fc.array(tie('value'), { maxLength: 3 }),
        fc.dictionary(fc.constantFrom('id', 'a', 'b', '"id":', 'zz'), tie('value'), { maxKeys: 3 }),
      ),
    }));
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom('id', 'action', 'actor', 'change', 'x'), plantable.value, {
          maxKeys: 5,
        }),
        (record) => {
          const text = canonicalize(record);
          expect(hasTopLevelId(Buffer.from(text), id)).toBe(record.id === id);
        },
      ),
      { numRuns: 500 },
    );
  });
});
