import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { writeArchive } from './report-archive-fixture.ts';
import { DATASET } from './report-dataset.ts';

/**
 * `verify --archive` and `export` through the whole CLI: verifying or exporting nothing must never read as
 * done, so a mistyped directory, tenant or an archive without logs exits 2 with a stable error code.
 */
let root: string;
let archive: string;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'verify-archive-cli-'));
  archive = join(root, 'archive');
  mkdirSync(archive);
  await writeArchive(archive, DATASET);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const cli = (...argv: string[]) => runCli(argv, { cwd: root });

describe('audit-trail verify --archive', () => {
  it('verifies the logs of a tenant the archive holds', async () => {
    const { code, stdout } = await cli('verify', '--archive', 'archive', '--tenant', 'globex');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^verified archive .*: 1 log, /);
  });

  it('exits 2, naming the tenants it holds, for a tenant without logs', async () => {
    const { code, stdout, stderr } = await cli(
      '--json',
      'verify',
      '--archive',
      'archive',
      '--tenant',
      'globx',
    );
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(JSON.parse(stderr)).toMatchObject({
      error: {
        code: 'no_logs',
        message: expect.stringContaining(
          'holds no logs of tenant "globx"; it holds logs of "acme", "globex"',
        ),
        tenants: ['acme', 'globex'],
      },
    });
  });

  it('exits 2 for an archive without logs', async () => {
    mkdirSync(join(root, 'empty'));
    const { code, stderr } = await cli('verify-archive', 'empty');
    expect(code).toBe(2);
    expect(stderr).toMatch(/^error: nothing to verify: the archive .*empty holds no logs \(events reach it/);
  });

  it('exits 2 for a directory that does not exist, or a file', async () => {
    const missing = await cli('--json', 'verify', '--archive', 'archiv');
    expect(missing.code).toBe(2);
    expect(JSON.parse(missing.stderr).error).toMatchObject({
      code: 'no_archive',
      message: expect.stringMatching(/no such directory$/),
    });
    writeFileSync(join(root, 'file'), 'not an archive');
    const file = await cli('verify-archive', 'file');
    expect(file.code).toBe(2);
    expect(file.stderr).toMatch(/no archive at .*file: not a directory/);
  });
});

describe('audit-trail export', () => {
  const period = ['--from', '2026-01-01', '--to', '2026-12-31'];

  it('exits 2 and writes nothing for a tenant the archive holds no logs of', async () => {
    const { code, stderr } = await cli(
      'export',
      ...period,
      '--archive',
      'archive',
      '--tenant',
      'acmee',
      '--out',
      'bundle-typo',
    );
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /^error: nothing to export: .* holds no logs of tenant "acmee"; it holds logs of "acme", "globex"/,
    );
    expect(existsSync(join(root, 'bundle-typo'))).toBe(false);
  });

  it('exports a tenant it holds', async () => {
    const { code, stdout } = await cli(
      'export',
      ...period,
      '--archive',
      'archive',
      '--tenant',
      'acme',
      '--out',
      'bundle',
    );
    expect(code).toBe(0);
    expect(stdout).toMatch(/^exported \d+ events from 2 logs/);
  });
});
