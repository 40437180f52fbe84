import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

  it('leaves an archive with a leaf stored twice to the full path, which accepts it', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'regular-archive-duplicate-'));
    try {
      const built = await writeArchive(copy, DATASET);
      writeDuplicateObject(built, 'test.example/acme/0', [7, 8]);
      const archive = await loadArchive(new DirectoryArchiveStore(copy));
      expect(await verifyRegularArchive(archive)).toBeUndefined();
      expect((await verifyArchive(new DirectoryArchiveStore(copy))).ok).toBe(true);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
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
