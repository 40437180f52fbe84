import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportCommand } from '../../cli/commands/report.ts';
import type { CliContext } from '../../cli/context.ts';
import { CliError } from '../../cli/errors.ts';
import type { Io } from '../../cli/io.ts';
import { formatCsv, formatTable } from '../../cli/reports/format.ts';
import { writeArchive } from './report-archive-fixture.ts';
import { DATASET } from './report-dataset.ts';

let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'report-cli-'));
  await writeArchive(dir, DATASET);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The report command under a program with the same global options as cli/main.ts. */
async function report(args: string[]): Promise<{ code: number; stdout: string; error?: CliError }> {
  let stdout = '';
  const io: Io = {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: () => true },
    stdin: (async function* () {})(),
    env: {},
    cwd: dir,
  };
  const ctx: CliContext = { io, json: args.includes('--json'), exitCode: 0 };
  const program = new Command('audit-trail')
    .option('--json')
    .option('--sandbox [file]')
    .option('--region <r>')
    .option('--profile <p>');
  program.addCommand(reportCommand(ctx).exitOverride());
  try {
    await program.exitOverride().parseAsync(['report', ...args], { from: 'user' });
    return { code: ctx.exitCode, stdout };
  } catch (error) {
    if (error instanceof CliError) return { code: error.exitCode, stdout, error };
    throw error;
  }
}

const PERIOD = ['--from', '2026-03-02', '--to', '2026-03-09', '--archive', '.'];

describe('audit-trail report', () => {
  it('prints an aligned table and the row count', async () => {
    const { code, stdout } = await report(['denied-access', ...PERIOD, '--tenant', 'acme']);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^received_at {15}event_time/);
    expect(lines).toHaveLength(5);
    expect(lines.at(-1)).toBe('(2 rows)');
  });

  it('prints JSON with --json', async () => {
    const { stdout } = await report(['actor-activity', ...PERIOD, '--param', 'actor=alice', '--json']);
    const parsed = JSON.parse(stdout);
    expect(parsed.count).toBe(5);
    expect(parsed.report.rows[0]).toMatchObject({ actor_id: 'alice', leaf_index: 3 });
  });

  it('lists the catalogue', async () => {
    const { stdout } = await report(['--list']);
    expect(stdout).toContain('changes-outside-window');
    expect(stdout).toContain('--param weekdays=…');
  });

  it.each([
    [['nope', ...PERIOD], /unknown report "nope"/],
    [['resource-changes', ...PERIOD], /needs parameter resource/],
    [['denied-access', ...PERIOD, '--param', 'oops'], /--param takes name=value/],
    [['denied-access', '--from', '2026-03-02', '--to', '2026-03-09'], /no archive/],
    [['denied-access', '--from', '2026-03-02', '--athena'], /--athena needs --workgroup and --database/],
  ])('rejects %j with exit 2 and a clear message', async (args, message) => {
    const { code, error } = await report(args);
    expect(code).toBe(2);
    expect(error?.message).toMatch(message);
  });
});

describe('report output formats', () => {
  const hostile = {
    columns: ['actor_id', 'events'],
    rows: [
      { actor_id: '\u001b[31mred\u001b[0m', events: 3 },
      { actor_id: 'evil\u202etxt.exe', events: 12 },
      { actor_id: '=HYPERLINK("http://x")', events: null },
    ],
  };

  it('escapes control, ANSI and bidi characters in table cells and right-aligns numbers', () => {
    const lines = formatTable(hostile);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for exactly these characters
    expect(lines.join('\n')).not.toMatch(/[\u001b\u202e]/);
    expect(lines[2]).toBe('\\u001b[31mred\\u001b[0m       3');
    expect(lines[3]).toContain('evil\\u202etxt.exe');
    expect(lines[3]!.endsWith('    12')).toBe(true);
  });

  it('writes RFC 4180 CSV with escaped cells and spreadsheet formulas defused', () => {
    expect(formatCsv(hostile)).toBe(
      'actor_id,events\r\n\\u001b[31mred\\u001b[0m,3\r\nevil\\u202etxt.exe,12\r\n"\'=HYPERLINK(""http://x"")",\r\n',
    );
  });
});
