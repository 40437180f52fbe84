import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ArchivedLine,
  type EventLineFields,
  eventLine,
  readEventLines,
  recordTextOf,
} from '#core/archive-layout.ts';
import { leafHashHex } from '#core/merkle.ts';
import type { AppendJson } from '#core/wire.ts';
import { archiveTrailSource } from '../../cli/archive/archive-source.ts';
import { loadArchive, parseArchive, type StoredArchive } from '../../cli/archive/read-archive.ts';
import { verifyRegularArchive as verifyStore } from '../../cli/archive/regular-archive.ts';
import { DirectoryArchiveStore } from '../../cli/archive/stores.ts';
import { verifyArchive } from '../../cli/archive/verify-archive.ts';
import { verifyTrail } from '../../cli/verify-trail.ts';
import { storeOf, writeArchive, writeDuplicateObject } from './report-archive-fixture.ts';
import { DATASET } from './report-dataset.ts';

/**
 * The fast path of archive verification (regular-archive.ts) only ever accepts: what it accepts, the full
 * path (every line parsed, every check named) accepts too; anything irregular or damaged goes to the full path.
 */
let dir: string;
let stored: StoredArchive;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'regular-archive-'));
  await writeArchive(dir, DATASET);
  stored = await loadArchive(new DirectoryArchiveStore(dir));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The fast path over objects held in memory. */
const verifyRegularArchive = (archive: StoredArchive, options: { tenant?: string } = {}) =>
  verifyStore(storeOf(archive), options);

async function fullPath(archive: StoredArchive): Promise<boolean> {
  try {
    return (await verifyTrail(archiveTrailSource(parseArchive(archive)))).ok;
  } catch {
    return false;
  }
}

describe('verifyRegularArchive', () => {
  it('verifies the archive as the archiver writes it, with the figures of the full path', async () => {
    const fast = await verifyRegularArchive(stored);
    const full = await verifyTrail(archiveTrailSource(parseArchive(stored)));
    expect(full.ok).toBe(true);
    expect(fast).toMatchObject({ ok: true, totals: full.totals, eventsListed: full.eventsListed });
    expect(fast!.logs).toEqual(full.logs);
  });

  it('verifies one tenant of it', async () => {
    const tenant = 'acme';
    const acme = await loadArchive(new DirectoryArchiveStore(dir), { tenant });
    const fast = await verifyRegularArchive(acme, { tenant });
    const full = await verifyTrail(archiveTrailSource(parseArchive(acme, { tenant })));
    expect(full.ok).toBe(true);
    expect(fast?.totals).toEqual(full.totals);
    expect(fast?.logs.length).toBeLessThan((await verifyRegularArchive(stored))!.logs.length);
  });

  it('verifies an archive with a leaf stored twice (a retried archiver batch) as the full path does', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'regular-archive-duplicate-'));
    try {
      const built = await writeArchive(copy, DATASET);
      writeDuplicateObject(built, 'test.example/acme/0', [7, 8]);
      const archive = await loadArchive(new DirectoryArchiveStore(copy));
      await expectSameAsFullPath(archive, stored.events.length + 1);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('verifies leaves stored again across objects, and at the end of a log, as the full path does', async () => {
    const acme0 = 'test.example/acme/0';
    const again = withObjects(
      stored,
      repeatedLeaves(stored, acme0, 5, 8),
      repeatedLeaves(stored, acme0, 9, 11),
    );
    await expectSameAsFullPath(again, stored.events.length + 2);
  });

  it('leaves to the full path, which fails, leaves stored again with another record or beyond the log', async () => {
    const acme0 = 'test.example/acme/0';
    // Another record at leaf 6, with its own leaf hash stored: the line holds together, but is not the leaf.
    const otherRecord = repeatedLeaves(stored, acme0, 5, 8, (line) => {
      if (line.leafIndex !== 6) return line;
      const recordText = line.recordText.replace('"id":"', '"zz":1,"id":"');
      return { ...line, recordText, leafHash: leafHashHex(Buffer.from(recordText)) };
    });
    const beyond = repeatedLeaves(
      stored,
      acme0,
      10,
      11,
      (line) => (line.leafIndex === 12 ? { ...line, eventId: 'on-no-leaf' } : line),
      1,
    );
    for (const [object, check] of [
      [otherRecord, 'record'],
      [beyond, 'orphan'],
    ] as const) {
      const damaged = withObjects(stored, object);
      expect(await verifyRegularArchive(damaged)).toBeUndefined();
      expect((await verifyArchive(storeOf(damaged))).failure?.check).toBe(check);
    }
  });

  it('verifies appends stored again, and leaves to the full path one stored again changed (a fork)', async () => {
    const acme0 = 'test.example/acme/0';
    await expectSameAsFullPath(
      withObjects(stored, repeatedAppends(stored, acme0, 3, 5)),
      stored.events.length,
    );
    const changed = repeatedAppends(stored, acme0, 3, 5, (append) =>
      append.start === 3 ? { ...append, eventIds: [...append.eventIds].reverse().concat('x') } : append,
    );
    const forked = withObjects(stored, changed);
    expect(await verifyRegularArchive(forked)).toBeUndefined();
    expect((await verifyArchive(storeOf(forked))).failure?.check).toBe('fork');
  });

  it('accepts no changed byte anywhere in the archive that the full path would reject (seeded sample)', async () => {
    const random = seeded(20261126);
    const objects = [...stored.keys, ...stored.checkpoints, ...stored.events];
    let tried = 0;
    let fastAccepted = 0;
    let fullAccepted = 0;
    for (let i = 0; i < 400; i++) {
      const object = objects[Math.floor(random() * objects.length)]!;
      const gzipped = object.key.endsWith('.gz');
      const plain = Buffer.from(gzipped ? gunzipSync(object.body) : object.body);
      const at = Math.floor(random() * plain.length);
      const value = Math.floor(random() * 256);
      if (plain[at] === value) continue;
      plain[at] = value;
      const body = gzipped ? gzipSync(plain) : plain;
      const damaged = replace(stored, object.key, body);
      tried += 1;
      const fast = await verifyRegularArchive(damaged);
      const full = await fullPath(damaged);
      if (fast) fastAccepted += 1;
      if (full) fullAccepted += 1;
      if (fast) expect({ key: object.key, at, full }).toEqual({ key: object.key, at, full: true });
    }
    console.log(
      `[reliability] regular-archive byte changes: tried=${tried} fastAccepted=${fastAccepted} fullAccepted=${fullAccepted}`,
    );
    expect(tried).toBeGreaterThan(350);
  });

  it('accepts a changed byte of a stored (gzipped) events object only where gunzip does too (CRC, length)', async () => {
    const random = seeded(11);
    let fastAccepted = 0;
    for (let i = 0; i < 200; i++) {
      const object = stored.events[Math.floor(random() * stored.events.length)]!;
      const body = Buffer.from(object.body);
      // The 8-byte trailer (CRC-32, length) first, then anywhere; the header's time and OS bytes are not
      // covered by the CRC, and gunzip and both paths ignore them.
      const at = i < 8 ? body.length - 1 - i : Math.floor(random() * body.length);
      body[at] = body[at]! ^ (1 + Math.floor(random() * 255));
      const damaged = replace(stored, object.key, body);
      if (!(await verifyRegularArchive(damaged))) continue;
      fastAccepted += 1;
      expect({ at, gunzips: gunzips(body), full: await fullPath(damaged) }).toEqual({
        at,
        gunzips: true,
        full: true,
      });
    }
    expect(fastAccepted).toBeLessThan(40);
  });

  it('accepts no changed byte of an events line (every byte of a line is checked)', async () => {
    const random = seeded(7);
    const object = stored.events[0]!;
    const plain = gunzipSync(object.body);
    for (let i = 0; i < 200; i++) {
      const copy = Buffer.from(plain);
      const at = Math.floor(random() * copy.length);
      copy[at] = copy[at]! ^ (1 + Math.floor(random() * 255));
      expect(await verifyRegularArchive(replace(stored, object.key, gzipSync(copy)))).toBeUndefined();
    }
  });
});

describe('verifyRegularArchive reading the archive', () => {
  /** The archive in memory, each read answered after a few milliseconds, counting reads in flight. */
  function slowStore(archive: StoredArchive, answer: (key: string) => Promise<Uint8Array | undefined>) {
    const store = storeOf(archive);
    const reads = { inFlight: 0, most: 0, total: 0 };
    return {
      reads,
      store: {
        ...store,
        get: async (key: string) => {
          reads.total += 1;
          reads.most = Math.max(reads.most, ++reads.inFlight);
          try {
            await new Promise((resolve) => setTimeout(resolve, 2));
            return await answer(key);
          } finally {
            reads.inFlight -= 1;
          }
        },
      },
    };
  }

  it('reads every object once, 16 ahead of verifying across logs, never more', async () => {
    const objects = stored.keys.length + stored.checkpoints.length + stored.events.length;
    const { store, reads } = slowStore(stored, async (key) => storeOf(stored).get(key));
    const report = await verifyStore(store);
    expect(report).toMatchObject({ ok: true, objects });
    expect(reads.total).toBe(objects);
    // The object being verified and 16 read ahead of it, across logs: never more.
    expect(objects).toBeGreaterThan(17);
    expect(reads.most).toBe(17);
  });

  it('leaves an object that was listed but cannot be read to the full path, which names it', async () => {
    const missing = stored.events.at(-1)!.key;
    const { store } = slowStore(stored, async (key) =>
      key === missing ? undefined : storeOf(stored).get(key),
    );
    expect(await verifyStore(store)).toBeUndefined();
    const report = await verifyArchive(store);
    expect(report.failure).toMatchObject({ check: 'format' });
    expect(report.failure?.message).toBe(`${missing} was listed but cannot be read`);
  });

  it('stops at the first irregular object, leaving reads still in flight harmless even if they fail', async () => {
    const [first, ...rest] = stored.events;
    const damaged = replace(stored, first!.key, gzipSync(Buffer.from('not an events line\n')));
    const failing = new Set(rest.map(({ key }) => key));
    let failed = 0;
    const { store } = slowStore(damaged, async (key) => {
      if (failing.has(key)) {
        failed += 1;
        throw new Error(`network error reading ${key}`);
      }
      return storeOf(damaged).get(key);
    });
    expect(await verifyStore(store)).toBeUndefined();
    // Reads started ahead fail after the fast path gave up: none may surface as an unhandled rejection.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(failed).toBeGreaterThan(0);
  });
});

/** The fast path accepts, with the full path's report; `events` events objects were read. */
async function expectSameAsFullPath(archive: StoredArchive, events: number): Promise<void> {
  const fast = await verifyRegularArchive(archive);
  const full = await verifyTrail(archiveTrailSource(parseArchive(archive)));
  expect(full.ok).toBe(true);
  expect(fast).toMatchObject({ ok: true, totals: full.totals, eventsListed: full.eventsListed });
  expect(fast!.logs).toEqual(full.logs);
  expect(fast!.objects).toBe(archive.keys.length + archive.checkpoints.length + events);
}

/** The archive with more objects, each filed as events or checkpoints by its key. */
function withObjects(archive: StoredArchive, ...objects: StoredArchive['events']): StoredArchive {
  const of = (prefix: string) => objects.filter((object) => object.key.startsWith(prefix));
  return {
    keys: archive.keys,
    checkpoints: [...archive.checkpoints, ...of('checkpoints/')],
    events: [...archive.events, ...of('events/')],
  };
}

/**
 * An events object holding leaves [from, to] of a log again, as a retried archiver batch writes it (its key
 * dated as the object of its first leaf); `edit` changes lines, and `beyond` more lines repeat the last one
 * as leaves after it.
 */
function repeatedLeaves(
  archive: StoredArchive,
  origin: string,
  from: number,
  to: number,
  edit: (line: PlainLine) => PlainLine = (line) => line,
  beyond = 0,
): StoredArchive['events'][number] {
  const slug = encodeURIComponent(origin);
  const objects = archive.events.filter((object) => object.key.includes(`/${slug}-`));
  const lines = objects
    .flatMap((object) => readEventLines(gunzipSync(object.body)))
    .filter((line) => line.leafIndex >= from && line.leafIndex <= to)
    .sort((a, b) => a.leafIndex - b.leafIndex)
    .map(plainLine);
  const last = lines.at(-1)!;
  for (let i = 1; i <= beyond; i++) lines.push({ ...last, leafIndex: last.leafIndex + i });
  const first = objects.find((object) => readEventLines(gunzipSync(object.body))[0]!.leafIndex === from)!;
  const dated = first.key.slice(0, first.key.lastIndexOf('/'));
  const pad = (n: number) => String(n).padStart(16, '0');
  const text = lines
    .map(edit)
    .map((line) => `${eventLine(line, line.recordText)}\n`)
    .join('');
  return { key: `${dated}/${slug}-${pad(from)}-${pad(to + beyond)}.jsonl.gz`, body: gzipSync(text) };
}

/** An events line's fields, read once, and its record as text. */
type PlainLine = EventLineFields & { readonly recordText: string };
const plainLine = (line: ArchivedLine): PlainLine => ({
  appendStart: line.appendStart,
  eventId: line.eventId,
  leafHash: line.leafHash,
  leafIndex: line.leafIndex,
  origin: line.origin,
  recordText: recordTextOf(line),
});

/** A checkpoints object holding a log's appends with starts in [from, to) again; `edit` changes appends. */
function repeatedAppends(
  archive: StoredArchive,
  origin: string,
  from: number,
  to: number,
  edit: (append: AppendJson) => AppendJson = (append) => append,
): StoredArchive['events'][number] {
  const slug = encodeURIComponent(origin);
  const appends = archive.checkpoints
    .filter((object) => object.key.startsWith(`checkpoints/${slug}/`))
    .flatMap((object) => Buffer.from(object.body).toString('utf8').split('\n').filter(Boolean))
    .map((line) => JSON.parse(line) as AppendJson)
    .filter((append) => append.start >= from && append.start < to)
    .map(edit);
  const pad = (n: number) => String(n).padStart(16, '0');
  const key = `checkpoints/${slug}/${pad(from)}-${pad(appends.at(-1)!.size)}.jsonl`;
  return { key, body: Buffer.from(appends.map((append) => `${JSON.stringify(append)}\n`).join('')) };
}

function gunzips(body: Uint8Array): boolean {
  try {
    gunzipSync(body);
    return true;
  } catch {
    return false;
  }
}

function replace(archive: StoredArchive, key: string, body: Uint8Array): StoredArchive {
  const swap = (objects: StoredArchive['events']) =>
    objects.map((object) => (object.key === key ? { key, body } : object));
  return { keys: swap(archive.keys), checkpoints: swap(archive.checkpoints), events: swap(archive.events) };
}

/** Mulberry32: a small seeded generator, so failures replay. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
