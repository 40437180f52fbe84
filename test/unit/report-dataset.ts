import { createHash } from 'node:crypto';
import type { AuditEventInput } from '#core/schema.ts';
import type { FixtureLog } from './report-archive-fixture.ts';

/**
 * A small, hand-made trail whose expected report rows are worked out in docs/REPORTS.md terms below.
 * Period under test: [2026-03-02 (Monday), 2026-03-09). Two tenants, three logs.
 */
export const PERIOD = { from: '2026-03-02', to: '2026-03-09' } as const;

const uuid = (seed: string) => {
  const hex = createHash('sha256').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
};

type EventSpec = Partial<AuditEventInput> & { readonly key: string };

/** An event with sensible defaults; `key` names it in tests and seeds its id. */
export function event({ key, ...fields }: EventSpec): AuditEventInput {
  return {
    id: uuid(key),
    time: '2026-03-01T00:00:00Z',
    action: 'deployment.apply',
    category: 'deployment',
    outcome: 'success',
    actor: { type: 'user', id: 'alice', name: 'Alice' },
    resources: [{ type: 'cloudformation-stack', id: 'arn:stack/app' }],
    source: { system: 'terraform', environment: 'prod' },
    ...fields,
  };
}

export const STACK = 'arn:stack/app';
/** A resource id with a quote: found as data, never closing a string. */
export const QUOTED_BUCKET = "arn:aws:s3:::o'brien-logs";

const acme0 = [
  { receivedAt: '2026-02-20T10:00:00.000Z', events: [event({ key: 'H1', reason: 'CHG-0' })] },
  // One stream batch across midnight: the object is filed under dt=2026-03-01, yet E0 is in the period.
  {
    receivedAt: '2026-03-01T23:59:59.999Z',
    events: [event({ key: 'E12', actor: { type: 'user', id: 'erin' }, reason: 'CHG-9' })],
  },
  {
    receivedAt: '2026-03-02T00:00:00.500Z',
    sameObjectAsPrevious: true,
    events: [
      event({
        key: 'E0',
        action: 'configuration.update',
        category: 'configuration',
        actor: { type: 'user', id: 'grace' },
        resources: [{ type: 'ssm-parameter', id: 'param/y' }],
        source: { system: 'terraform', environment: 'dev' },
        reason: 'CHG-5',
      }),
    ],
  },
  { receivedAt: '2026-03-02T09:00:00.000Z', events: [event({ key: 'E1', reason: 'CHG-1' })] },
  {
    receivedAt: '2026-03-02T20:00:00.000Z',
    events: [
      event({
        key: 'E2',
        action: 'configuration.update',
        category: 'configuration',
        actor: { type: 'user', id: 'bob' },
        resources: [{ type: 'ssm-parameter', id: 'param/x' }],
      }),
    ],
  },
  {
    receivedAt: '2026-03-03T10:00:00.000Z',
    events: [
      event({
        key: 'E3',
        action: 'iam.role.update',
        category: 'policy',
        resources: [{ type: 'iam-role', id: 'role/admin' }],
        reason: 'CHG-2',
      }),
      event({
        key: 'E4',
        action: 'access.login',
        category: 'access',
        outcome: 'denied',
        actor: { type: 'user', id: 'carol' },
        resources: [{ type: 'console', id: 'aws-console' }],
        source: { system: 'okta' },
      }),
    ],
  },
  {
    receivedAt: '2026-03-04T12:00:00.000Z',
    events: [
      event({
        key: 'E5',
        action: 's3.bucket.delete',
        category: 'provisioning',
        actor: { type: 'service', id: 'dave' },
        resources: [{ type: 's3-bucket', id: QUOTED_BUCKET }],
        source: { system: 'terraform', environment: 'production' },
        reason: 'CHG-3',
      }),
    ],
  },
  {
    receivedAt: '2026-03-04T13:00:00.000Z',
    events: [
      event({
        key: 'E6',
        action: 'db.instance.delete',
        category: 'provisioning',
        outcome: 'failure',
        actor: { type: 'service', id: 'dave' },
        resources: [{ type: 'rds-instance', id: 'db/1' }],
        source: { system: 'terraform', environment: 'staging' },
      }),
    ],
  },
  {
    receivedAt: '2026-03-05T09:30:00.000Z',
    events: [
      event({
        key: 'E8',
        action: 'integrity.violation',
        category: 'system',
        outcome: 'failure',
        actor: { type: 'system', id: 'integrity-monitor' },
        resources: [{ type: 'audit-log', id: 'test.example/acme/0' }],
        source: { system: 'audit-trail' },
        change: { summary: 'leaf 3: record hashes to another leaf hash' },
      }),
    ],
  },
  {
    receivedAt: '2026-03-07T10:00:00.000Z',
    events: [
      event({
        key: 'E7',
        action: 'deployment.rollback',
        resources: [
          { type: 'codedeploy-deployment', id: 'd-7' },
          { type: 'cloudformation-stack', id: STACK },
        ],
      }),
    ],
  },
  // At `to` exactly: outside the half-open period.
  { receivedAt: '2026-03-09T00:00:00.000Z', events: [event({ key: 'E11', reason: 'CHG-11' })] },
];

const acme1 = [
  {
    receivedAt: '2026-03-05T10:00:00.000Z',
    events: [
      event({
        key: 'E9',
        action: 'access.assume-role',
        category: 'access',
        outcome: 'failure',
        actor: { type: 'user', id: 'bob' },
        resources: [{ type: 'iam-role', id: 'role/admin' }],
        source: { system: 'okta' },
      }),
    ],
  },
  {
    receivedAt: '2026-03-06T23:59:59.999Z',
    events: [
      event({
        key: 'E10',
        action: 'configuration.update',
        category: 'configuration',
        resources: [{ type: 'ssm-parameter', id: 'param/x' }],
        reason: '   ',
      }),
    ],
  },
];

const globex0 = [
  {
    receivedAt: '2026-03-03T09:00:00.000Z',
    events: [
      event({
        key: 'G1',
        resources: [{ type: 'cloudformation-stack', id: 'arn:stack/globex-app' }],
        source: { system: 'github-actions', environment: 'prod' },
      }),
    ],
  },
  {
    receivedAt: '2026-03-04T09:00:00.000Z',
    events: [
      event({
        key: 'G2',
        action: 's3.object.delete',
        category: 'data',
        actor: { type: 'user', id: 'frank' },
        resources: [{ type: 's3-object', id: 'arn:aws:s3:::globex/report.csv' }],
        source: { system: 'github-actions', environment: 'Prod' },
      }),
    ],
  },
];

export const DATASET: readonly FixtureLog[] = [
  { origin: 'test.example/acme/0', tenant: 'acme', appends: acme0 },
  { origin: 'test.example/acme/1', tenant: 'acme', appends: acme1 },
  { origin: 'test.example/globex/0', tenant: 'globex', appends: globex0 },
];

/** Event ids by key, for asserting which events a report returned. */
export const idOf = (key: string) => uuid(key);
