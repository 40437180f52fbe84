import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ArchivedLine, recordTextOf } from '#core/archive-layout.ts';
import { archiveTrailSource } from '../../cli/archive/archive-source.ts';
import { type ArchiveContents, readArchive } from '../../cli/archive/read-archive.ts';
import { DirectoryArchiveStore } from '../../cli/archive/stores.ts';
import { type ListedEvent, type TrailSource, verifyTrail } from '../../cli/verify-trail.ts';
import { writeArchive } from './report-archive-fixture.ts';
import { DATASET } from './report-dataset.ts';

/**
 * How verifyTrail matches listed events with verified leaves: an archive lists its lines (bytes and
 * position), matched with the verified leaf at that position; anything else (a wrong position, records from
 * the API) is matched by event id and compared by bytes or by leaf hash.
 */
let dir: string;
let contents: ArchiveContents;
/** The archive's lines as plain objects (a read line is a view whose fields are getters; these can be spread). */
let lines: ArchivedLine[];
const bytesOf = (text: string) => Buffer.from(text, 'utf8');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'verify-trail-listing-'));
  await writeArchive(dir, DATASET);
  contents = await readArchive(new DirectoryArchiveStore(dir));
  lines = [...contents.events.values()].flatMap((log) =>
    [...log.values()].map(({ appendStart, eventId, leafHash, leafIndex, origin, recordBytes }) => ({
      appendStart,
      eventId,
      leafHash,
      leafIndex,
      origin,
      recordBytes,
    })),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const listing = (events: readonly ListedEvent[]): TrailSource => ({
  ...archiveTrailSource(contents),
  async *events() {
    yield events;
  },
});

describe('verifyTrail: listed events', () => {
  it('accepts the archive lines at their positions', async () => {
    const report = await verifyTrail(archiveTrailSource(contents));
    expect(report.failure).toBeUndefined();
    expect(report.eventsListed).toBe(lines.length);
  });

  it('matches a listing with a wrong position, or none, by event id and bytes', async () => {
    const moved = lines.map((line) => ({ ...line, leafIndex: line.leafIndex + 1000 }));
    const bare = lines.map(({ eventId, recordBytes }) => ({ eventId, recordBytes }));
    for (const events of [moved, bare]) {
      const report = await verifyTrail(listing(events));
      expect(report.failure).toBeUndefined();
      expect(report.eventsListed).toBe(lines.length);
    }
  });

  it('matches records listed as objects (as the API lists them) by leaf hash', async () => {
    const records = lines.map((line) => ({ record: JSON.parse(recordTextOf(line)) }));
    expect((await verifyTrail(listing(records))).failure).toBeUndefined();
  });

  it('fails with record when listed bytes are not the verified leaf at its position', async () => {
    const line = lines[3]!;
    const respaced = {
      ...line,
      recordBytes: bytesOf(JSON.stringify(JSON.parse(recordTextOf(line)), null, 1)),
    };
    const report = await verifyTrail(listing([respaced]));
    expect(report.failure).toMatchObject({
      check: 'record',
      origin: line.origin,
      leafIndex: line.leafIndex,
      eventId: line.eventId,
    });
  });

  it('fails with record when a listing names one verified event with the bytes of another', async () => {
    const [a, b] = [lines[0]!, lines[1]!];
    const report = await verifyTrail(listing([{ ...a, recordBytes: b.recordBytes }]));
    expect(report.failure).toMatchObject({ check: 'record', leafIndex: a.leafIndex, eventId: a.eventId });
  });

  it('fails with orphan when a listed event is in no verified log', async () => {
    const report = await verifyTrail(
      listing([
        { eventId: 'not-logged', recordBytes: bytesOf('{"id":"not-logged"}'), origin: lines[0]!.origin },
      ]),
    );
    expect(report.failure).toMatchObject({ check: 'orphan', eventId: 'not-logged' });
  });
});
