import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AUDIT_EVENTS_COLUMNS,
  bindParameters,
  findReport,
  REPORT_QUERIES,
  ReportParameterError,
  UnknownReportError,
} from '#core/report-queries.ts';
import { runLocalReport } from '../../cli/reports/local-engine.ts';
import { writeArchive, writeDuplicateObject } from './report-archive-fixture.ts';
import { DATASET, idOf, PERIOD, QUOTED_BUCKET, STACK } from './report-dataset.ts';

let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'report-queries-'));
  const archive = await writeArchive(dir, DATASET);
  // A retried batch stored E5 and E6 (leaves 7 and 8) a second time: reports must count them once.
  writeDuplicateObject(archive, 'test.example/acme/0', [7, 8]);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (name: string, params: Record<string, string> = {}) =>
  runLocalReport(bindParameters(findReport(name), { ...PERIOD, ...params }), dir);

const eventIds = (rows: readonly Record<string, unknown>[]) => rows.map((row) => row.event_id);

describe('report catalogue on DuckDB over a generated archive', () => {
  it.each([
    ['resource-changes', { resource: STACK }, 2],
    ['resource-changes', { resource: STACK, resourceType: 'cloudformation-stack' }, 2],
    ['resource-changes', { resource: STACK, resourceType: 'iam-role' }, 0],
    ['resource-changes', { resource: QUOTED_BUCKET }, 1],
    ['actor-activity', { actor: 'alice' }, 5],
    ['actor-activity', { actor: 'alice', tenant: 'acme' }, 4],
    ['actor-activity', { actor: 'alice', actorType: 'service' }, 0],
    ['denied-access', {}, 2],
    ['privileged-changes', {}, 2],
    ['production-deletions', {}, 2],
    ['production-deletions', { environments: 'staging' }, 1],
    ['changes-without-reason', {}, 4],
    ['changes-outside-window', {}, 4],
    ['changes-outside-window', { weekdays: '1,2,3,4,5,6,7', startHour: '0', endHour: '24' }, 0],
    ['changes-outside-window', { weekdays: '1,2,3,4,5,6,7', startHour: '22', endHour: '6' }, 6],
    ['first-seen-actors', {}, 7],
    ['first-seen-actors', { since: '2026-03-02' }, 8],
    ['first-seen-actors', { tenant: 'acme' }, 5],
    ['daily-summary', {}, 11],
    ['daily-summary', { tenant: 'globex' }, 2],
    ['integrity-alerts', {}, 1],
  ])('%s %j returns exactly %i rows', async (name, params, expected) => {
    const result = await run(name, params);
    expect(result.rows).toHaveLength(expected);
  });

  it('runs every catalogue query (each is covered above)', () => {
    expect(new Set(REPORT_QUERIES.map((query) => query.name))).toEqual(
      new Set([
        'resource-changes',
        'actor-activity',
        'denied-access',
        'privileged-changes',
        'production-deletions',
        'changes-without-reason',
        'changes-outside-window',
        'first-seen-actors',
        'daily-summary',
        'integrity-alerts',
      ]),
    );
  });

  it('lists the events themselves, in receive order, across logs and tenants', async () => {
    expect(eventIds((await run('changes-outside-window')).rows)).toEqual(['E0', 'E2', 'E10', 'E7'].map(idOf));
    expect(eventIds((await run('changes-without-reason')).rows)).toEqual(['E2', 'G1', 'E10', 'E7'].map(idOf));
    expect(eventIds((await run('denied-access')).rows)).toEqual(['E4', 'E9'].map(idOf));
    expect(eventIds((await run('privileged-changes')).rows)).toEqual(['E3', 'E9'].map(idOf));
    expect(eventIds((await run('production-deletions')).rows)).toEqual(['G2', 'E5'].map(idOf));
  });

  it('matches a resource named anywhere in the list, not only the first', async () => {
    const { rows } = await run('resource-changes', { resource: STACK });
    expect(eventIds(rows)).toEqual(['E1', 'E7'].map(idOf));
    expect(rows[1]).toMatchObject({
      resource_type: 'codedeploy-deployment',
      resource_count: 2,
      leaf_index: 10,
    });
  });

  it('counts a leaf stored in two objects once (de-duplication on origin, leafIndex)', async () => {
    const { rows } = await run('daily-summary', { tenant: 'acme' });
    expect(rows.find((row) => row.day === '2026-03-04')).toEqual({
      day: '2026-03-04',
      tenant: 'acme',
      source_system: 'terraform',
      category: 'provisioning',
      events: 2,
      denied: 0,
      failed: 1,
      actors: 1,
    });
    expect(rows.reduce((sum, row) => sum + Number(row.events), 0)).toBe(11);
  });

  it('finds a record received after midnight in an object filed under the previous day', async () => {
    const { rows } = await run('first-seen-actors', { tenant: 'acme' });
    expect(rows[0]).toMatchObject({ actor_id: 'grace', first_seen: '2026-03-02T00:00:00.500Z', events: 1 });
    expect(rows.find((row) => row.actor_id === 'bob')).toMatchObject({ events: 2 });
  });

  it('reports integrity violations with the affected log and what failed', async () => {
    const { rows } = await run('integrity-alerts');
    expect(rows[0]).toMatchObject({
      resource_type: 'audit-log',
      resource_id: 'test.example/acme/0',
      summary: 'leaf 3: record hashes to another leaf hash',
      outcome: 'failure',
    });
  });

  it.each([
    ['resource-changes', { resource: "x' OR '1'='1" }],
    ['actor-activity', { actor: "alice' --" }],
    ['daily-summary', { tenant: "acme' OR '1'='1" }],
    ['production-deletions', { environments: "prod') OR ('1'='1" }],
  ])('treats a hostile value of %s %j as data: no rows', async (name, params) => {
    expect((await run(name, params)).rows).toHaveLength(0);
  });

  it('returns no rows, not an error, over an archive without events', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'report-empty-'));
    try {
      const result = await runLocalReport(bindParameters(findReport('daily-summary'), PERIOD), empty);
      expect(result).toEqual({
        columns: ['day', 'tenant', 'source_system', 'category', 'events', 'denied', 'failed', 'actors'],
        rows: [],
      });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('bindParameters', () => {
  it('binds one string per placeholder, with defaults and partition bounds', () => {
    const bound = bindParameters(findReport('denied-access'), {
      from: '2026-03-02',
      to: '2026-03-09T00:00:00Z',
    });
    expect(bound.bindings).toEqual([
      '2026-03-01',
      '2026-03-08',
      '*',
      '*',
      '2026-03-02T00:00:00.000Z',
      '2026-03-09T00:00:00.000Z',
    ]);
  });

  it('normalizes offsets to UTC so strings compare as times', () => {
    const bound = bindParameters(findReport('denied-access'), {
      from: '2026-03-02T01:00:00+02:00',
      to: '2026-03-03',
    });
    expect(bound.values.from).toBe('2026-03-01T23:00:00.000Z');
  });

  it.each([
    [{ to: '2026-03-09' }, /needs parameter from/],
    [{ from: '2026-03-09', to: '2026-03-02' }, /must be before/],
    [{ from: 'yesterday', to: '2026-03-02' }, /from must be a date/],
    [{ from: '2026-03-01', to: '2026-03-02', color: 'red' }, /has no parameter color/],
  ])('rejects %j with a clear message', (params, message) => {
    expect(() => bindParameters(findReport('denied-access'), params)).toThrow(message);
    expect(() => bindParameters(findReport('denied-access'), params)).toThrow(ReportParameterError);
  });

  it.each([
    [{ startHour: '8; DROP TABLE x' }, /startHour must be a whole number/],
    [{ endHour: '25' }, /endHour must be a whole number in \[1, 24\]/],
    [{ weekdays: '1,8' }, /weekdays must list ISO weekdays/],
  ])('rejects malformed typed values %j', (params, message) => {
    expect(() => bindParameters(findReport('changes-outside-window'), { ...PERIOD, ...params })).toThrow(
      message,
    );
  });

  it('rejects a required parameter left out, naming it', () => {
    expect(() => bindParameters(findReport('resource-changes'), PERIOD)).toThrow(/needs parameter resource/);
  });

  it('rejects an unknown report name, listing the known ones', () => {
    expect(() => findReport('nope')).toThrow(UnknownReportError);
    expect(() => findReport('nope')).toThrow(/known: resource-changes, /);
  });
});

describe('catalogue shape', () => {
  it.each(REPORT_QUERIES.map((query) => [query.name, query] as const))(
    '%s restricts dt partitions, de-duplicates and has one binding per ?',
    (_name, query) => {
      expect(query.sql).toMatch(/WHERE dt BETWEEN \? AND \?/);
      expect(query.sql).toMatch(/PARTITION BY origin, leafindex/);
      expect(query.sql.split('?').length - 1).toBe(query.placeholders.length);
      for (const placeholder of query.placeholders) {
        expect([
          ...query.parameters.map((p) => p.name),
          'fromPartition',
          'toPartition',
          'sincePartition',
        ]).toContain(placeholder);
      }
    },
  );

  it('describes the Glue table with lower-case struct fields', () => {
    expect(AUDIT_EVENTS_COLUMNS.map((column) => column.name)).toEqual([
      'origin',
      'leafindex',
      'leafhash',
      'appendstart',
      'eventid',
      'record',
    ]);
    const record = AUDIT_EVENTS_COLUMNS.find((column) => column.name === 'record')!;
    expect(record.type).toContain('receivedat:string');
    expect(record.type).toContain('resources:array<struct<type:string,id:string,name:string>>');
  });
});
