import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_FILES } from '../../cli/archive/bundle-format.ts';
import { MANUAL_CHECK_SCRIPT } from '../../cli/archive/bundle-readme.ts';
import { exportBundle } from '../../cli/archive/export-bundle.ts';
import { DirectoryArchiveStore } from '../../cli/archive/stores.ts';
import { verifyBundle } from '../../cli/archive/verify-bundle.ts';
import { jsonLines, writeArchive, writeDuplicateObject } from './report-archive-fixture.ts';
import { DATASET, idOf } from './report-dataset.ts';

const temps: string[] = [];
const temp = (name: string) => {
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  temps.push(dir);
  return dir;
};
let archiveDir: string;
let bundle: string;

const RANGE = { from: '2026-03-02T00:00:00.000Z', to: '2026-03-09T00:00:00.000Z' };
const TOOL = { name: 'audit-trail', version: '0.1.0-test' };

beforeAll(async () => {
  const archive = await writeArchive(temp('export-archive'), DATASET);
  writeDuplicateObject(archive, 'test.example/acme/0', [7, 8]);
  archiveDir = archive.dir;
  bundle = join(temp('export-bundle'), 'bundle');
  const result = await exportBundle(new DirectoryArchiveStore(archiveDir), {
    ...RANGE,
    tenant: 'acme',
    outDir: bundle,
    tool: TOOL,
  });
  expect(result).toMatchObject({ ok: true });
});

afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8');
const lines = (dir: string, file: string) =>
  read(dir, file)
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));

/** A damaged copy of the bundle; `rehash` also updates the manifest, as a careful forger would. */
// biome-ignore lint/suspicious/noExplicitAny: bundle lines of several shapes are edited in place
function tamper(file: string, change: (items: any[]) => unknown[], rehash = true): string {
  const dir = join(temp('export-tampered'), 'bundle');
  cpSync(bundle, dir, { recursive: true });
  const text = jsonLines(change(lines(dir, file)));
  writeFileSync(join(dir, file), text);
  if (rehash) {
    const manifest = JSON.parse(read(dir, BUNDLE_FILES.manifest));
    const entry = manifest.files.find((f: { path: string }) => f.path === file);
    entry.sha256 = createHash('sha256').update(text).digest('hex');
    entry.bytes = Buffer.byteLength(text);
    writeFileSync(join(dir, BUNDLE_FILES.manifest), JSON.stringify(manifest));
  }
  return dir;
}

describe('export evidence bundle', () => {
  it('writes the events of the range with receipts, the covered chains from leaf 0, keys and a manifest', () => {
    const manifest = JSON.parse(read(bundle, BUNDLE_FILES.manifest));
    expect(manifest).toMatchObject({
      format: 'audit-trail-evidence/1',
      tool: TOOL,
      range: { ...RANGE, field: 'receivedAt' },
      tenant: 'acme',
      counts: { events: 11, logs: 2, appends: 13, keys: 1 },
    });
    expect(manifest.logs.map((log: { origin: string; size: number }) => [log.origin, log.size])).toEqual([
      ['test.example/acme/0', 12],
      ['test.example/acme/1', 2],
    ]);
    expect(manifest.files.map((file: { path: string }) => file.path).sort()).toEqual([
      'README.md',
      'checkpoints.jsonl',
      'events.jsonl',
      'public-keys.json',
    ]);
    const events = lines(bundle, BUNDLE_FILES.events);
    expect(events.map((event) => event.receipt.eventId)).toEqual(
      ['E0', 'E1', 'E2', 'E3', 'E4', 'E5', 'E6', 'E8', 'E9', 'E10', 'E7'].map(idOf),
    );
    expect(lines(bundle, BUNDLE_FILES.checkpoints)[0]).toMatchObject({
      origin: 'test.example/acme/0',
      start: 0,
      previous: null,
    });
  });

  it('verifies offline with the CLI verifier', async () => {
    expect(await verifyBundle(bundle)).toMatchObject({
      ok: true,
      events: 11,
      logs: 2,
      appends: 13,
      signatures: 13,
    });
  });

  it('verifies by hand with the README script and openssl', () => {
    const dir = join(temp('export-manual'), 'bundle');
    cpSync(bundle, dir, { recursive: true });
    writeFileSync(join(dir, 'check.py'), MANUAL_CHECK_SCRIPT);
    expect(read(dir, 'README.md')).toContain(MANUAL_CHECK_SCRIPT);
    for (const line of [0, 5]) {
      const out = execFileSync('python3', ['check.py', String(line)], { cwd: dir, encoding: 'utf8' });
      expect(out).toMatch(/is in the tree of size/);
      const openssl = execFileSync(
        'openssl',
        ['dgst', '-sha256', '-verify', 'key.pem', '-signature', 'sig.der', 'body.txt'],
        { cwd: dir, encoding: 'utf8' },
      );
      expect(openssl.trim()).toBe('Verified OK');
    }
  });

  it('fails the README script on a changed record', () => {
    const dir = tamper(BUNDLE_FILES.events, (items) => {
      items[0].record.reason = 'CHG-forged';
      return items;
    });
    writeFileSync(join(dir, 'check.py'), MANUAL_CHECK_SCRIPT);
    expect(() => execFileSync('python3', ['check.py', '0'], { cwd: dir, stdio: 'pipe' })).toThrow(
      /leaf hash differs/,
    );
  });

  it('fails on a changed record even with the manifest rehashed, naming the event', async () => {
    const dir = tamper(BUNDLE_FILES.events, (items) => {
      items[3].record.actor.id = 'mallory';
      return items;
    });
    expect((await verifyBundle(dir)).failure).toMatchObject({
      check: 'leaf-hash',
      origin: 'test.example/acme/0',
      leafIndex: 5,
      eventId: idOf('E3'),
    });
  });

  it('fails on a changed file the manifest does not match', async () => {
    const dir = tamper(BUNDLE_FILES.events, (items) => items.slice(1), false);
    expect((await verifyBundle(dir)).failure).toMatchObject({ check: 'manifest', file: 'events.jsonl' });
  });

  it('fails on a dropped event even with the manifest rehashed (count)', async () => {
    const dir = tamper(BUNDLE_FILES.events, (items) => items.slice(1));
    expect((await verifyBundle(dir)).failure).toMatchObject({
      check: 'manifest',
      message: '10 events, the manifest counts 11',
    });
  });

  it('fails on a chain cut short', async () => {
    const dir = tamper(BUNDLE_FILES.checkpoints, (items) =>
      items.filter((a) => !(a.origin === 'test.example/acme/0' && a.start === 11)),
    );
    expect((await verifyBundle(dir)).failure).toMatchObject({
      check: 'truncated',
      origin: 'test.example/acme/0',
      leafIndex: 11,
    });
  });

  it('fails on an append removed from the middle of a chain', async () => {
    const dir = tamper(BUNDLE_FILES.checkpoints, (items) =>
      items.filter((a) => !(a.origin === 'test.example/acme/0' && a.start === 3)),
    );
    expect((await verifyBundle(dir)).failure).toMatchObject({
      check: 'gap',
      origin: 'test.example/acme/0',
      appendStart: 4,
    });
  });

  it('fails on a changed leaf hash in the chain', async () => {
    const dir = tamper(BUNDLE_FILES.checkpoints, (items) => {
      items[1].leafHashes[0] = '0'.repeat(64);
      return items;
    });
    expect((await verifyBundle(dir)).failure).toMatchObject({
      check: 'root',
      origin: 'test.example/acme/0',
      appendStart: 1,
    });
  });

  it('fails on a forged checkpoint signature', async () => {
    const dir = tamper(BUNDLE_FILES.checkpoints, (items) => {
      const signature = Buffer.from(items[0].checkpoint.signature, 'base64');
      signature[signature.length - 1]! ^= 1;
      items[0].checkpoint.signature = signature.toString('base64');
      return items;
    });
    expect((await verifyBundle(dir)).failure).toMatchObject({ check: 'signature', appendStart: 0 });
  });

  it('fails on a file planted in the bundle', async () => {
    const dir = tamper(BUNDLE_FILES.events, (items) => items);
    writeFileSync(join(dir, 'extra.jsonl'), '{}\n');
    expect((await verifyBundle(dir)).failure).toMatchObject({ check: 'manifest', file: 'extra.jsonl' });
  });

  it('refuses to write into a directory that is not empty', async () => {
    await expect(
      exportBundle(new DirectoryArchiveStore(archiveDir), { ...RANGE, outDir: bundle, tool: TOOL }),
    ).rejects.toThrow(/not empty/);
  });

  it('refuses to export from an archive that does not verify', async () => {
    const damaged = temp('export-damaged');
    cpSync(archiveDir, damaged, { recursive: true });
    const key = 'events/tenant=globex/dt=2026-03-03';
    const dir = join(damaged, ...key.split('/'));
    const file = join(dir, readdirSync(dir)[0]!);
    const items = gunzipSync(readFileSync(file))
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    items[0].record.reason = 'forged';
    writeFileSync(file, gzipSync(jsonLines(items)));
    const result = await exportBundle(new DirectoryArchiveStore(damaged), {
      ...RANGE,
      outDir: join(temp('export-out'), 'b'),
      tool: TOOL,
    });
    expect(result).toMatchObject({
      ok: false,
      failure: { check: 'leaf-hash', origin: 'test.example/globex/0', leafIndex: 0 },
    });
  });
});
