import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { recordTextOf } from '#core/archive-layout.ts';
import { archiveTrailSource } from '../../cli/archive/archive-source.ts';
import { loadArchive, parseArchive } from '../../cli/archive/read-archive.ts';
import { verifyRegularArchive } from '../../cli/archive/regular-archive.ts';
import { DirectoryArchiveStore } from '../../cli/archive/stores.ts';
import { verifyArchive } from '../../cli/archive/verify-archive.ts';
import { verifyTrail } from '../../cli/verify-trail.ts';
import { type FixtureLog, writeArchive } from './report-archive-fixture.ts';
import { event } from './report-dataset.ts';

/**
 * An event id is unique within a tenant (the ledger keys events by tenant and id): the same id in two tenants
 * is two events and verifies; the same id twice in one tenant fails as `event-id`, on both paths.
 */
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const receivedAt = '2026-03-02T09:00:00.000Z';
const log = (origin: string, tenant: string, keys: string[]): FixtureLog => ({
  origin,
  tenant,
  appends: [{ receivedAt, events: keys.map((key) => event({ key })) }],
});

async function archiveOf(logs: FixtureLog[]) {
  const dir = mkdtempSync(join(tmpdir(), 'duplicate-ids-'));
  dirs.push(dir);
  await writeArchive(dir, logs);
  const store = new DirectoryArchiveStore(dir);
  return { dir, store, stored: await loadArchive(store) };
}

describe('event ids recorded more than once', () => {
  it('verifies the same id in two tenants, on both paths and when records are listed by id', async () => {
    const { store, stored } = await archiveOf([
      log('test.example/acme/0', 'acme', ['shared', 'a1']),
      log('test.example/globex/0', 'globex', ['g1', 'shared']),
    ]);
    expect((await verifyRegularArchive(store))?.ok).toBe(true);
    const contents = parseArchive(stored);
    expect((await verifyTrail(archiveTrailSource(contents))).ok).toBe(true);
    expect((await verifyArchive(store)).ok).toBe(true);
    // As the API lists them: records, matched by id within their own tenant.
    const records = [...contents.events.values()].flatMap((slots) =>
      [...slots.values()].map((line) => ({
        record: JSON.parse(recordTextOf(line)) as Record<string, unknown>,
      })),
    );
    const listing = {
      ...archiveTrailSource(contents),
      async *events() {
        yield records;
      },
    };
    const report = await verifyTrail(listing);
    expect(report.failure).toBeUndefined();
    expect(report.eventsListed).toBe(4);
  });

  it('fails with event-id on the same id twice in one tenant (two of its logs), naming the second', async () => {
    const { store } = await archiveOf([
      log('test.example/acme/0', 'acme', ['twice', 'a1']),
      log('test.example/acme/1', 'acme', ['a2', 'twice']),
    ]);
    expect(await verifyRegularArchive(store)).toBeUndefined();
    const report = await verifyArchive(store);
    expect(report.ok).toBe(false);
    expect(report.failure).toMatchObject({ check: 'event-id', origin: 'test.example/acme/1', leafIndex: 1 });
    expect(report.failure?.message).toMatch(
      /recorded twice in tenant acme: at test\.example\/acme\/0 leaf 0/,
    );
  });

  it('fails with origin when an append is relabelled to another tenant (which would hide the repeat)', async () => {
    const { dir, store } = await archiveOf([
      log('test.example/acme/0', 'acme', ['twice', 'a1']),
      log('test.example/acme/1', 'acme', ['a2', 'twice']),
    ]);
    // The append's tenant field is not signed; the origin each checkpoint signs names the tenant.
    const checkpoints = join(dir, 'checkpoints', encodeURIComponent('test.example/acme/1'));
    for (const name of readdirSync(checkpoints)) {
      const file = join(checkpoints, name);
      writeFileSync(file, readFileSync(file, 'utf8').replaceAll('"tenant":"acme"', '"tenant":"globex"'));
    }
    expect(await verifyRegularArchive(store)).toBeUndefined();
    const report = await verifyArchive(store);
    expect(report.failure).toMatchObject({ check: 'origin', origin: 'test.example/acme/1', appendStart: 0 });
    expect(report.failure?.message).toMatch(
      /says tenant globex, but log test\.example\/acme\/1 is tenant acme's/,
    );
  });
});
