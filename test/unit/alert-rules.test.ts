import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AlertRule,
  AUDIT_EVENT_DETAIL_TYPE,
  AUDIT_SOURCE,
  auditEventEntry,
  buildAlertRules,
  compileAlertRules,
  INTEGRITY_VIOLATION_DETAIL_TYPE,
  integrityViolationEntry,
} from '#core/alert-rules.ts';
import { canonicalize } from '#core/canonical.ts';
import { leafHash } from '#core/merkle.ts';
import type { StoredEvent } from '#core/ports.ts';
import { buildRecord } from '#core/record.ts';
import { AuditEventInput } from '#core/schema.ts';
import { LocalAlertBus } from '../../local/alert-bus.ts';
import { makeEvent } from '../support/events.ts';

const BREAK_GLASS = 'arn:aws:iam::123456789012:role/BreakGlass';
const rules = buildAlertRules({ breakGlassActors: [BREAK_GLASS, 'emergency-admin'] });

/** A stored event as the alerter sees it: the client's fields (validated) plus the server fields. */
function stored(
  overrides: Partial<AuditEventInput>,
  callerArn = 'arn:aws:sts::123456789012:assumed-role/Deployer/ci',
): StoredEvent {
  // An override of `undefined` removes the field (e.g. `reason`) from the base event.
  const merged = Object.entries({ ...makeEvent(JSON.stringify(overrides)), ...overrides }).filter(
    ([, value]) => value !== undefined,
  );
  const input = AuditEventInput.parse(Object.fromEntries(merged));
  const record = canonicalize(
    buildRecord(input, {
      tenant: 'acme',
      receivedAt: '2026-03-01T10:00:00.000Z',
      caller: { principalArn: callerArn, accountId: '123456789012', sourceIp: '10.0.0.1' },
    }),
  );
  return {
    tenant: 'acme',
    eventId: input.id,
    record,
    origin: 'audit.example.com/acme/0',
    leafIndex: 7,
    appendStart: 7,
    leafHash: leafHash(new TextEncoder().encode(record)),
  };
}

/** Names of the rules that fire for one event, through the sandbox bus (EventBridge envelope and all). */
async function firing(overrides: Partial<AuditEventInput>, callerArn?: string): Promise<string[]> {
  const bus = new LocalAlertBus({ rules, region: 'eu-west-1' });
  await bus.publish([auditEventEntry(stored(overrides, callerArn))]);
  return bus.fired.map((alert) => alert.rule).sort();
}

/** A change in a non-production environment, with a reason: no catalogue rule fires for it. */
const quiet: Partial<AuditEventInput> = {
  action: 'deployment.apply',
  category: 'deployment',
  outcome: 'success',
  source: { system: 'ci', environment: 'staging' },
  reason: 'CHG-1',
  actor: { type: 'service', id: 'ci-runner' },
};

describe('alert catalogue', () => {
  it('fires nothing for an ordinary change', async () => {
    expect(await firing(quiet)).toEqual([]);
  });

  it('denied-or-failed-access fires for denied or failed access, not for successful access or other failures', async () => {
    expect(await firing({ ...quiet, category: 'access', outcome: 'denied' })).toEqual([
      'denied-or-failed-access',
    ]);
    expect(await firing({ ...quiet, category: 'access', outcome: 'failure' })).toEqual([
      'denied-or-failed-access',
    ]);
    expect(await firing({ ...quiet, category: 'access', outcome: 'success' })).toEqual([]);
    expect(await firing({ ...quiet, category: 'access', outcome: 'unknown' })).toEqual([]);
    expect(await firing({ ...quiet, category: 'deployment', outcome: 'denied' })).toEqual([]);
  });

  it('policy-change fires for the policy category or an iam. action, not for look-alikes', async () => {
    expect(await firing({ ...quiet, category: 'policy' })).toEqual(['policy-change']);
    expect(await firing({ ...quiet, action: 'iam.attach-role-policy', category: 'access' })).toEqual([
      'policy-change',
    ]);
    expect(await firing({ ...quiet, action: 'iamx.attach', category: 'access' })).toEqual([]);
    expect(await firing({ ...quiet, action: 'aws.iam.attach', category: 'access' })).toEqual([]);
  });

  it('production-deletion fires for a .delete action in prod or production (any case), not elsewhere', async () => {
    const prod = { system: 'terraform', environment: 'prod' };
    expect(await firing({ ...quiet, action: 'bucket.delete', source: prod })).toEqual([
      'production-deletion',
    ]);
    expect(
      await firing({
        ...quiet,
        action: 'bucket.delete',
        source: { system: 'tf', environment: 'Production' },
      }),
    ).toEqual(['production-deletion']);
    expect(
      await firing({ ...quiet, action: 'bucket.delete', source: { system: 'tf', environment: 'preprod' } }),
    ).toEqual([]);
    expect(await firing({ ...quiet, action: 'bucket.delete', source: { system: 'tf' } })).toEqual([]);
    expect(await firing({ ...quiet, action: 'bucket.deleted', source: prod })).toEqual([]);
    expect(await firing({ ...quiet, action: 'delete.bucket', source: prod })).toEqual([]);
  });

  it('break-glass-actor fires for configured actors and for root, not for similar ids', async () => {
    expect(await firing({ ...quiet, actor: { type: 'user', id: BREAK_GLASS } })).toEqual([
      'break-glass-actor',
    ]);
    expect(await firing({ ...quiet, actor: { type: 'user', id: 'emergency-admin' } })).toEqual([
      'break-glass-actor',
    ]);
    expect(await firing({ ...quiet, actor: { type: 'user', id: 'arn:aws:iam::123456789012:root' } })).toEqual(
      ['break-glass-actor'],
    );
    expect(await firing(quiet, 'arn:aws:iam::123456789012:root')).toEqual(['break-glass-actor']);
    expect(await firing({ ...quiet, actor: { type: 'user', id: `${BREAK_GLASS}2` } })).toEqual([]);
    expect(await firing({ ...quiet, actor: { type: 'user', id: 'Emergency-Admin' } })).toEqual([]);
    expect(
      await firing({ ...quiet, actor: { type: 'user', id: 'arn:aws:iam::123456789012:root-like' } }),
    ).toEqual([]);
  });

  it('production-change-without-reason fires for an unexplained production change, not with a reason or for reads', async () => {
    const prod = { system: 'ci', environment: 'prod' };
    const noReason = { ...quiet, reason: undefined };
    expect(await firing({ ...noReason, source: prod })).toEqual(['production-change-without-reason']);
    for (const category of ['provisioning', 'configuration', 'policy'] as const) {
      expect(await firing({ ...noReason, category, source: prod })).toContain(
        'production-change-without-reason',
      );
    }
    expect(await firing({ ...quiet, source: prod })).toEqual([]);
    expect(await firing({ ...noReason, category: 'data', source: prod })).toEqual([]);
    expect(await firing({ ...noReason, source: { system: 'ci', environment: 'dev' } })).toEqual([]);
  });

  it('integrity-violation fires for Integrity Violation entries only', async () => {
    const bus = new LocalAlertBus({ rules, region: 'eu-west-1' });
    await bus.publish([
      integrityViolationEntry({
        origin: 'audit.example.com/acme/0',
        check: 'truncated',
        leafIndex: 4,
        message: 'gone',
      }),
      { source: 'someone-else', detailType: INTEGRITY_VIOLATION_DETAIL_TYPE, detail: {} },
    ]);
    expect(bus.fired.map((alert) => alert.rule)).toEqual(['integrity-violation']);
    expect(bus.fired[0]!.event.detail).toEqual({
      origin: 'audit.example.com/acme/0',
      check: 'truncated',
      leafIndex: 4,
      message: 'gone',
    });
  });

  it('ignores entries from other sources or detail types even when the record would match', async () => {
    const entry = auditEventEntry(stored({ ...quiet, category: 'policy' }));
    const match = compileAlertRules(rules);
    const envelope = (source: string, detailType: string) => ({
      version: '0' as const,
      id: '1',
      'detail-type': detailType,
      source,
      account: '1',
      time: '2026-03-01T10:00:00Z',
      region: 'eu-west-1',
      resources: [],
      detail: JSON.parse(JSON.stringify(entry.detail)),
    });
    expect(match(envelope(AUDIT_SOURCE, AUDIT_EVENT_DETAIL_TYPE)).map((rule) => rule.name)).toEqual([
      'policy-change',
    ]);
    expect(match(envelope('other', AUDIT_EVENT_DETAIL_TYPE))).toEqual([]);
    expect(match(envelope(AUDIT_SOURCE, 'Other'))).toEqual([]);
  });
});

describe('alert catalogue configuration', () => {
  it('defines each rule once, with valid EventBridge names and patterns', () => {
    const catalogue = buildAlertRules({});
    expect(catalogue.map((rule) => rule.name)).toEqual([
      'denied-or-failed-access',
      'policy-change',
      'production-deletion',
      'break-glass-actor',
      'production-change-without-reason',
      'integrity-violation',
    ]);
    for (const rule of catalogue) expect(AlertRule.parse(rule)).toEqual(rule);
  });

  it('takes production environments and extra rules from config', async () => {
    const extra = {
      name: 'failed-deployments',
      description: 'A deployment failed.',
      severity: 'low' as const,
      pattern: {
        source: [AUDIT_SOURCE],
        detail: { record: { category: ['deployment'], outcome: ['failure'] } },
      },
    };
    const custom = buildAlertRules({ productionEnvironments: ['live'], extraRules: [extra] });
    const bus = new LocalAlertBus({ rules: custom, region: 'eu-west-1' });
    await bus.publish([
      auditEventEntry(
        stored({
          ...quiet,
          action: 'db.delete',
          outcome: 'failure',
          source: { system: 'tf', environment: 'live' },
        }),
      ),
      auditEventEntry(
        stored({ ...quiet, action: 'db.delete', source: { system: 'tf', environment: 'prod' } }),
      ),
    ]);
    expect(bus.fired.map((alert) => alert.rule)).toEqual(['production-deletion', 'failed-deployments']);
  });

  it('rejects an extra rule whose pattern EventBridge semantics cannot evaluate', () => {
    const bad = { name: 'bad', description: 'x', severity: 'low', pattern: { source: [{ contains: 'x' }] } };
    expect(() => buildAlertRules({ extraRules: [bad as never] })).toThrow(/not a supported event pattern/);
  });

  it('rejects a rule name EventBridge does not accept and a name defined twice', () => {
    const rule = {
      name: 'has space',
      description: 'x',
      severity: 'low' as const,
      pattern: { source: ['x'] },
    };
    expect(() => buildAlertRules({ extraRules: [rule] })).toThrow(/letters, digits/);
    expect(() => buildAlertRules({ extraRules: [{ ...rule, name: 'policy-change' }] })).toThrow(
      /defined twice/,
    );
  });
});

describe('sandbox alert bus', () => {
  it('delivers the EventBridge envelope and appends each fired alert to its file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'alerts-'));
    try {
      const file = join(dir, 'alerts.jsonl');
      const printed: string[] = [];
      const bus = new LocalAlertBus({
        rules,
        region: 'eu-west-1',
        file,
        print: (line) => printed.push(line),
      });
      const event = stored({ ...quiet, category: 'policy', action: 'iam.put-role-policy' });
      await bus.publish([auditEventEntry(event)]);
      const lines = readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({
        rule: 'policy-change',
        severity: 'high',
        event: {
          version: '0',
          source: AUDIT_SOURCE,
          'detail-type': AUDIT_EVENT_DETAIL_TYPE,
          time: '2026-03-01T10:00:00Z',
          region: 'eu-west-1',
          detail: { eventId: event.eventId, leafIndex: 7, record: JSON.parse(event.record) },
        },
      });
      expect(printed).toEqual([
        `ALERT [high] policy-change: iam.put-role-policy by ci-runner (event ${event.eventId})`,
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
