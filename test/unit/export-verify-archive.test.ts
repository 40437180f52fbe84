import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryArchiveStore } from '../../cli/archive/stores.ts';
import { verifyArchive } from '../../cli/archive/verify-archive.ts';
import {
  type BuiltArchive,
  jsonLines,
  writeArchive,
  writeDuplicateObject,
} from './report-archive-fixture.ts';
import { DATASET, idOf } from './report-dataset.ts';

let pristine: BuiltArchive;
const temps: string[] = [];

beforeAll(async () => {
  pristine = await writeArchive(mkdtempSync(join(tmpdir(), 'verify-archive-')), DATASET);
  writeDuplicateObject(pristine, 'test.example/acme/0', [7, 8]);
  temps.push(pristine.dir);
});

afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the pristine archive to damage. */
function copy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'verify-archive-copy-'));
  cpSync(pristine.dir, dir, { recursive: true });
  temps.push(dir);
  return dir;
}

const path = (dir: string, key: string) => join(dir, ...key.split('/'));
const readLines = (file: string) =>
  gunzipSync(readFileSync(file))
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
const objectWith = (origin: string, leafIndex: number) =>
  pristine.eventObjects.find(
    (key) =>
      key.includes(encodeURIComponent(origin)) &&
      readLines(path(pristine.dir, key)).some((l) => l.leafIndex === leafIndex),
  )!;

const verify = (dir: string) => verifyArchive(new DirectoryArchiveStore(dir));

describe('verify --archive', () => {
  it('passes a clean archive: every log replayed to its latest archived checkpoint', async () => {
    const report = await verify(pristine.dir);
    expect(report.failure).toBeUndefined();
    expect(report.ok).toBe(true);
    expect(report.logs.map((log) => [log.origin, log.size])).toEqual([
      ['test.example/acme/0', 12],
      ['test.example/acme/1', 2],
      ['test.example/globex/0', 2],
    ]);
    expect(report.totals).toMatchObject({ logs: 3, leaves: 16 });
    expect(report.eventsListed).toBe(16);
  });

  it('fails on a changed record, naming origin, leaf and event', async () => {
    const dir = copy();
    const key = objectWith('test.example/acme/0', 5);
    const lines = readLines(path(dir, key));
    lines[0].record.actor.id = 'mallory';
    writeFileSync(path(dir, key), gzipSync(jsonLines(lines)));
    const report = await verify(dir);
    expect(report.ok).toBe(false);
    expect(report.failure).toMatchObject({
      origin: 'test.example/acme/0',
      check: 'leaf-hash',
      leafIndex: 5,
      eventId: idOf('E3'),
    });
  });

  it('fails on a flipped byte in an events object, naming the object', async () => {
    const dir = copy();
    const key = objectWith('test.example/globex/0', 1);
    const bytes = readFileSync(path(dir, key));
    bytes[bytes.length - 12]! ^= 0x01;
    writeFileSync(path(dir, key), bytes);
    const report = await verify(dir);
    expect(report.failure?.check).toBe('format');
    expect(report.failure?.message).toContain(key);
  });

  it('fails on a deleted events line, naming the missing leaf and its event', async () => {
    const dir = copy();
    const key = objectWith('test.example/acme/0', 5);
    writeFileSync(
      path(dir, key),
      gzipSync(jsonLines(readLines(path(dir, key)).filter((line) => line.leafIndex !== 6))),
    );
    const report = await verify(dir);
    expect(report.failure).toMatchObject({
      origin: 'test.example/acme/0',
      check: 'missing-leaf',
      leafIndex: 6,
      eventId: idOf('E4'),
    });
  });

  it('fails on a truncated tail: the events end before the archived checkpoint', async () => {
    const dir = copy();
    unlinkSync(path(dir, objectWith('test.example/acme/0', 11)));
    const report = await verify(dir);
    expect(report.failure).toMatchObject({
      origin: 'test.example/acme/0',
      check: 'truncated',
      leafIndex: 11,
      eventId: idOf('E11'),
    });
  });

  it('fails when two objects hold different records at one position', async () => {
    const dir = copy();
    const key = writeDuplicateObject({ ...pristine, dir }, 'test.example/acme/1', [0, 1]);
    const lines = readLines(path(dir, key));
    lines[1].record.reason = 'CHG-forged';
    writeFileSync(path(dir, key), gzipSync(jsonLines(lines)));
    const report = await verify(dir);
    expect(report.failure).toMatchObject({
      origin: 'test.example/acme/1',
      check: 'record',
      leafIndex: 1,
      eventId: idOf('E10'),
    });
    expect(report.failure?.message).toMatch(/two different records at leaf 1/);
  });

  it('fails on a forged checkpoint signature, naming the append', async () => {
    const dir = copy();
    const key = pristine.checkpointObjects.find((k) =>
      k.includes(encodeURIComponent('test.example/globex/0')),
    )!;
    const [append] = readFileSync(path(dir, key), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line));
    const signature = Buffer.from(append.checkpoint.signature, 'base64');
    signature[signature.length - 1]! ^= 0x01;
    append.checkpoint.signature = signature.toString('base64');
    writeFileSync(path(dir, key), jsonLines([append]));
    const report = await verify(dir);
    expect(report.failure).toMatchObject({
      origin: 'test.example/globex/0',
      check: 'signature',
      appendStart: 0,
    });
  });

  it('fails on a missing append in the middle of a log (gap)', async () => {
    const dir = copy();
    const middle = pristine.checkpointObjects.filter((k) =>
      k.includes(encodeURIComponent('test.example/acme/0')),
    )[3]!;
    unlinkSync(path(dir, middle));
    const report = await verify(dir);
    expect(report.failure).toMatchObject({ origin: 'test.example/acme/0', check: 'gap' });
  });

  it('fails on an archived record that no archived append covers (orphan)', async () => {
    const dir = copy();
    const key = pristine.checkpointObjects
      .filter((k) => k.includes(encodeURIComponent('test.example/acme/1')))
      .at(-1)!;
    unlinkSync(path(dir, key));
    const report = await verify(dir);
    expect(report.failure).toMatchObject({
      origin: 'test.example/acme/1',
      check: 'orphan',
      eventId: idOf('E10'),
    });
  });
});
