import { describe, expect, it } from 'vitest';
import { InvalidEventsError } from '#core/errors.ts';
import { AuditEventInput, type EventIssue, formatPath, LIMITS, toEventIssues } from '#core/schema.ts';
import { makeEvent } from '../support/events.ts';

const valid = () => structuredClone(makeEvent('schema')) as Record<string, unknown>;

/** Issues of one event with `patch` applied to a valid one (a patch value of undefined deletes the field). */
function issuesOf(patch: Record<string, unknown>, index = 0): EventIssue[] {
  const event = { ...valid(), ...patch };
  for (const [key, value] of Object.entries(patch)) if (value === undefined) delete event[key];
  const result = AuditEventInput.safeParse(event);
  return result.success ? [] : toEventIssues(index, result.error);
}

const nested = (depth: number, leaf: unknown = 1): unknown =>
  depth === 0 ? leaf : [nested(depth - 1, leaf)];

describe('AuditEventInput', () => {
  it('accepts the full event the factory makes', () => {
    expect(issuesOf({})).toEqual([]);
  });

  it('accepts an event with only the required fields', () => {
    const minimal = {
      id: '0b7c6c1e-4a0b-4c7e-9a55-5c1f7d1e2a01',
      time: '2026-01-31T12:00:00Z',
      action: 'deployment.apply',
      category: 'deployment',
      outcome: 'success',
      actor: { type: 'user', id: 'alice' },
      resources: [{ type: 'stack', id: 'app' }],
      source: { system: 'ci' },
    };
    expect(AuditEventInput.parse(minimal)).toEqual(minimal);
  });

  describe('strict shapes', () => {
    it('rejects unknown keys at every level, each at its own path with the array index', () => {
      const issues = issuesOf({
        extra: 1,
        actor: { type: 'user', id: 'a', role: 'admin' },
        resources: [
          { type: 't', id: 'i' },
          { type: 't', id: 'i', arn: 'x' },
        ],
        source: { system: 's', team: 'x' },
        change: { after: {}, diff: '' },
      });
      expect(issues).toEqual(
        expect.arrayContaining([
          { index: 0, path: 'extra', message: 'is not a known field' },
          { index: 0, path: 'actor.role', message: 'is not a known field' },
          { index: 0, path: 'resources[1].arn', message: 'is not a known field' },
          { index: 0, path: 'source.team', message: 'is not a known field' },
          { index: 0, path: 'change.diff', message: 'is not a known field' },
        ]),
      );
      expect(issues).toHaveLength(5);
    });

    it('rejects server fields sent by the client (tenant, receivedAt, caller)', () => {
      const paths = issuesOf({ tenant: 'other', receivedAt: '2026-01-01T00:00:00Z', caller: {} }).map(
        (issue) => issue.path,
      );
      expect(paths.sort()).toEqual(['caller', 'receivedAt', 'tenant']);
    });

    it('rejects a __proto__ key at the top level as an unknown field', () => {
      const event = JSON.parse(JSON.stringify(valid()).replace('{', '{"__proto__":{"admin":true},'));
      const result = AuditEventInput.safeParse(event);
      expect(result.success).toBe(false);
      expect(toEventIssues(0, result.error!)).toEqual([
        { index: 0, path: '__proto__', message: 'is not a known field' },
      ]);
    });

    it.each(['id', 'time', 'action', 'category', 'outcome', 'actor', 'resources', 'source'])(
      'rejects an event without %s',
      (field) => {
        const issues = issuesOf({ [field]: undefined });
        expect(issues).toEqual([{ index: 0, path: field, message: expect.stringMatching(/expected|must/) }]);
      },
    );
  });

  describe('id', () => {
    it.each([
      'not-a-uuid',
      '0b7c6c1e4a0b4c7e9a555c1f7d1e2a01',
      '0b7c6c1e-4a0b-4c7e-9a55-5c1f7d1e2a0',
      '{0b7c6c1e-4a0b-4c7e-9a55-5c1f7d1e2a01}',
      '',
    ])('rejects %j', (id) => {
      expect(issuesOf({ id })).toEqual([{ index: 0, path: 'id', message: 'must be a UUID' }]);
    });

    it('accepts an uppercase UUID and stores it lowercase, so both spellings are one idempotency key', () => {
      const parsed = AuditEventInput.parse({ ...valid(), id: '0B7C6C1E-4A0B-4C7E-9A55-5C1F7D1E2A01' });
      expect(parsed.id).toBe('0b7c6c1e-4a0b-4c7e-9a55-5c1f7d1e2a01');
    });
  });

  describe('time (RFC 3339 with an offset)', () => {
    it.each([
      '2026-01-31T12:00:00Z',
      '2026-01-31T12:00:00.123Z',
      '2026-01-31T12:00:00.123456789Z',
      '2026-01-31T13:00:00+01:00',
      '2024-02-29T00:00:00-05:30',
    ])('accepts %s', (time) => {
      expect(issuesOf({ time })).toEqual([]);
    });

    it.each([
      ['no offset (local time)', '2026-01-31T12:00:00'],
      ['no seconds', '2026-01-31T12:00Z'],
      ['a space instead of T', '2026-01-31 12:00:00Z'],
      ['a date only', '2026-01-31'],
      ['a compact offset', '2026-01-31T12:00:00+0100'],
      ['February 30th', '2026-02-30T12:00:00Z'],
      ['February 29th of a common year', '2026-02-29T12:00:00Z'],
      ['hour 24', '2026-01-31T24:00:00Z'],
      ['an epoch number as text', '1769860800'],
    ])('rejects %s', (_name, time) => {
      expect(issuesOf({ time })).toEqual([
        { index: 0, path: 'time', message: 'must be an RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z' },
      ]);
    });

    it('rejects a number', () => {
      expect(issuesOf({ time: 1769860800 })).toEqual([
        { index: 0, path: 'time', message: expect.any(String) },
      ]);
    });
  });

  describe('action (dotted verb)', () => {
    it.each([
      'deployment.apply',
      'iam.role.create',
      'S3.PutBucketPolicy',
      'k8s.rollout-restart',
      'db.snapshot_create',
    ])('accepts %s', (action) => {
      expect(issuesOf({ action })).toEqual([]);
    });

    it.each([
      'deploy',
      '.apply',
      'deployment.',
      'deployment..apply',
      '1deploy.apply',
      'deployment.1apply',
      'deploy ment.apply',
      'déploiement.appliquer',
      '',
    ])('rejects %j', (action) => {
      expect(issuesOf({ action })).toEqual([
        { index: 0, path: 'action', message: 'must be a dotted verb such as deployment.apply' },
      ]);
    });

    it('rejects an action longer than 128 characters', () => {
      const action = `a.${'b'.repeat(127)}`;
      expect(issuesOf({ action })).toEqual([
        { index: 0, path: 'action', message: 'must be at most 128 characters' },
      ]);
      expect(issuesOf({ action: action.slice(0, 128) })).toEqual([]);
    });
  });

  describe('enums', () => {
    it.each(['provisioning', 'configuration', 'access', 'deployment', 'policy', 'data', 'system'])(
      'accepts the category %s',
      (category) => {
        expect(issuesOf({ category })).toEqual([]);
      },
    );

    it.each(['success', 'failure', 'denied', 'unknown'])('accepts the outcome %s', (outcome) => {
      expect(issuesOf({ outcome })).toEqual([]);
    });

    it.each([
      ['category', 'security'],
      ['category', 'Deployment'],
      ['outcome', 'ok'],
    ])('rejects %s %j and lists the allowed values', (field, value) => {
      const [issue, ...rest] = issuesOf({ [field]: value });
      expect(rest).toEqual([]);
      expect(issue).toMatchObject({ index: 0, path: field });
      expect(issue!.message).toMatch(
        field === 'outcome' ? /success.*failure.*denied.*unknown/ : /provisioning.*system/,
      );
    });

    it('rejects an actor type outside user | service | system', () => {
      expect(issuesOf({ actor: { type: 'robot', id: 'r2' } })).toEqual([
        { index: 0, path: 'actor.type', message: expect.stringMatching(/user.*service.*system/) },
      ]);
    });
  });

  describe('actor', () => {
    it.each(['10.0.0.1', '2001:db8::1', '::1'])('accepts the IP address %s', (ip) => {
      expect(issuesOf({ actor: { type: 'user', id: 'a', ip } })).toEqual([]);
    });

    it.each(['10.0.0.256', 'localhost', '10.0.0.1/32', ''])('rejects the IP address %j', (ip) => {
      expect(issuesOf({ actor: { type: 'user', id: 'a', ip } })).toEqual([
        { index: 0, path: 'actor.ip', message: 'must be an IPv4 or IPv6 address' },
      ]);
    });

    it.each([
      ['id', LIMITS.idLength],
      ['name', LIMITS.nameLength],
      ['userAgent', LIMITS.nameLength],
    ])('limits actor.%s to %i characters and rejects it empty', (field, max) => {
      const actor = (value: string) => ({ actor: { type: 'user', id: 'a', [field]: value } });
      expect(issuesOf(actor('x'.repeat(max)))).toEqual([]);
      expect(issuesOf(actor('x'.repeat(max + 1)))).toEqual([
        { index: 0, path: `actor.${field}`, message: `must be at most ${max} characters` },
      ]);
      expect(issuesOf(actor(''))).toEqual([
        { index: 0, path: `actor.${field}`, message: 'must not be empty' },
      ]);
    });

    it('rejects a lone surrogate in a text field', () => {
      expect(issuesOf({ actor: { type: 'user', id: 'a\ud800' } })).toEqual([
        { index: 0, path: 'actor.id', message: 'must be valid Unicode (no lone surrogates)' },
      ]);
    });
  });

  describe('resources', () => {
    const resource = (i: number) => ({ type: 'bucket', id: `b-${i}` });

    it(`accepts 1 to ${LIMITS.maxResources} resources`, () => {
      expect(issuesOf({ resources: [resource(0)] })).toEqual([]);
      expect(
        issuesOf({ resources: Array.from({ length: LIMITS.maxResources }, (_, i) => resource(i)) }),
      ).toEqual([]);
    });

    it('rejects an empty list', () => {
      expect(issuesOf({ resources: [] })).toEqual([
        { index: 0, path: 'resources', message: 'must name at least one resource' },
      ]);
    });

    it(`rejects more than ${LIMITS.maxResources} resources`, () => {
      expect(
        issuesOf({ resources: Array.from({ length: LIMITS.maxResources + 1 }, (_, i) => resource(i)) }),
      ).toEqual([
        { index: 0, path: 'resources', message: `must name at most ${LIMITS.maxResources} resources` },
      ]);
    });

    it('names the resource index and field of a problem', () => {
      expect(
        issuesOf({ resources: [resource(0), resource(1), resource(2), { type: 'bucket', id: '' }] }),
      ).toEqual([{ index: 0, path: 'resources[3].id', message: 'must not be empty' }]);
    });

    it.each([
      ['type', 128],
      ['id', 2048],
      ['name', LIMITS.nameLength],
    ])('limits resources[].%s to %i characters', (field, max) => {
      const withValue = (value: string) => ({ resources: [{ type: 't', id: 'i', [field]: value }] });
      expect(issuesOf(withValue('x'.repeat(max)))).toEqual([]);
      expect(issuesOf(withValue('x'.repeat(max + 1)))).toEqual([
        { index: 0, path: `resources[0].${field}`, message: `must be at most ${max} characters` },
      ]);
    });

    it('rejects a resource list that is not an array', () => {
      expect(issuesOf({ resources: { type: 't', id: 'i' } })).toEqual([
        { index: 0, path: 'resources', message: expect.stringMatching(/array/) },
      ]);
    });
  });

  describe('source, reason, correlationId', () => {
    it.each([
      ['source.system', { source: { system: 'x'.repeat(129) } }, 128],
      ['source.environment', { source: { system: 's', environment: 'x'.repeat(65) } }, 64],
      ['source.region', { source: { system: 's', region: 'x'.repeat(65) } }, 64],
      ['source.account', { source: { system: 's', account: 'x'.repeat(65) } }, 64],
      ['reason', { reason: 'x'.repeat(LIMITS.textLength + 1) }, LIMITS.textLength],
      ['correlationId', { correlationId: 'x'.repeat(LIMITS.idLength + 1) }, LIMITS.idLength],
      ['change.summary', { change: { summary: 'x'.repeat(LIMITS.textLength + 1) } }, LIMITS.textLength],
    ])('limits %s', (path, patch, max) => {
      expect(issuesOf(patch)).toEqual([{ index: 0, path, message: `must be at most ${max} characters` }]);
    });

    it('counts text length in Unicode code points (zod 4): an emoji counts once', () => {
      expect(issuesOf({ correlationId: '\ud83d\ude00'.repeat(LIMITS.idLength) })).toEqual([]);
      expect(issuesOf({ correlationId: `${'\ud83d\ude00'.repeat(LIMITS.idLength)}x` })).toEqual([
        { index: 0, path: 'correlationId', message: `must be at most ${LIMITS.idLength} characters` },
      ]);
    });

    it('rejects a source without a system', () => {
      expect(issuesOf({ source: { environment: 'prod' } })).toEqual([
        { index: 0, path: 'source.system', message: expect.any(String) },
      ]);
    });
  });

  describe('metadata', () => {
    it('accepts strings, safe integers and booleans', () => {
      expect(
        issuesOf({
          metadata: { s: 'x', n: Number.MAX_SAFE_INTEGER, m: -Number.MAX_SAFE_INTEGER, b: true, z: 0 },
        }),
      ).toEqual([]);
    });

    it.each([
      ['an unsafe integer', 2 ** 53, 'must be an integer within ±(2^53-1)'],
      ['a negative unsafe integer', -(2 ** 53), 'must be an integer within ±(2^53-1)'],
      ['a fraction', 1.5, 'must be an integer within ±(2^53-1)'],
    ])('rejects %s, naming the key', (_name, value, message) => {
      expect(issuesOf({ metadata: { count: value } })).toEqual([
        { index: 0, path: 'metadata.count', message },
      ]);
    });

    it.each([
      ['null', null],
      ['an object', { a: 1 }],
      ['an array', [1]],
    ])('rejects %s as a value', (_name, value) => {
      const issues = issuesOf({ metadata: { k: value } });
      expect(issues).toHaveLength(1);
      expect(issues[0]).toMatchObject({ index: 0, path: 'metadata.k' });
    });

    it('rejects a value string longer than 1024 characters', () => {
      expect(issuesOf({ metadata: { k: 'x'.repeat(1025) } })).toEqual([
        { index: 0, path: 'metadata.k', message: expect.any(String) },
      ]);
      expect(issuesOf({ metadata: { k: 'x'.repeat(1024) } })).toEqual([]);
    });

    it(`rejects more than ${LIMITS.maxMetadataEntries} entries`, () => {
      const entries = (count: number) =>
        Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, i]));
      expect(issuesOf({ metadata: entries(LIMITS.maxMetadataEntries) })).toEqual([]);
      expect(issuesOf({ metadata: entries(LIMITS.maxMetadataEntries + 1) })).toEqual([
        { index: 0, path: 'metadata', message: `must have at most ${LIMITS.maxMetadataEntries} entries` },
      ]);
    });

    it.each([
      ['empty', ''],
      ['longer than 128 characters', 'k'.repeat(129)],
      ['a lone surrogate', 'k\udc00'],
    ])('rejects a key that is %s', (_name, key) => {
      const issues = issuesOf({ metadata: { [key]: 1 } });
      expect(issues).toHaveLength(1);
      expect(issues[0]).toMatchObject({ index: 0, path: `metadata.${key}` });
    });

    it('rejects metadata that is not an object', () => {
      expect(issuesOf({ metadata: ['a'] })).toEqual([
        { index: 0, path: 'metadata', message: expect.stringMatching(/record|object/) },
      ]);
    });
  });

  describe('change (free-form JSON)', () => {
    it('accepts any JSON in before/after, including fractions and exact integers', () => {
      const after = {
        replicas: 3,
        ratio: 0.25,
        tags: ['a', null, true],
        nested: { deep: { list: [] } },
        max: Number.MAX_SAFE_INTEGER,
      };
      expect(issuesOf({ change: { before: null, after } })).toEqual([]);
    });

    it(`accepts ${LIMITS.maxJsonDepth} levels of nesting and rejects ${LIMITS.maxJsonDepth + 1}, at the deepest path`, () => {
      expect(issuesOf({ change: { after: nested(LIMITS.maxJsonDepth) } })).toEqual([]);
      expect(issuesOf({ change: { after: nested(LIMITS.maxJsonDepth + 1) } })).toEqual([
        {
          index: 0,
          path: `change.after${'[0]'.repeat(LIMITS.maxJsonDepth + 1)}`,
          message: `nests deeper than ${LIMITS.maxJsonDepth} levels`,
        },
      ]);
    });

    it('rejects an unsafe integer at its path', () => {
      expect(issuesOf({ change: { before: { counts: [1, 2 ** 53] } } })).toEqual([
        {
          index: 0,
          path: 'change.before.counts[1]',
          message: 'numbers must be finite and integers within ±(2^53-1)',
        },
      ]);
    });

    it('rejects non-finite numbers', () => {
      expect(issuesOf({ change: { after: { x: Number.POSITIVE_INFINITY } } })).toHaveLength(1);
      expect(issuesOf({ change: { after: Number.NaN } })).toHaveLength(1);
    });

    it('rejects lone surrogates in string values and in keys', () => {
      expect(issuesOf({ change: { after: { name: 'x\ud800' } } })).toEqual([
        { index: 0, path: 'change.after.name', message: 'must be valid Unicode (no lone surrogates)' },
      ]);
      expect(issuesOf({ change: { after: { '\udc00': 1 } } })).toEqual([
        { index: 0, path: 'change.after.\udc00', message: 'keys must be valid Unicode' },
      ]);
    });

    it(`rejects strings longer than ${LIMITS.changeStringLength} characters`, () => {
      expect(issuesOf({ change: { after: 'x'.repeat(LIMITS.changeStringLength) } })).toEqual([]);
      expect(issuesOf({ change: { after: ['x'.repeat(LIMITS.changeStringLength + 1)] } })).toEqual([
        {
          index: 0,
          path: 'change.after[0]',
          message: `strings must be at most ${LIMITS.changeStringLength} characters`,
        },
      ]);
    });
  });
});

describe('issue reporting', () => {
  it('formats paths the way a person points at a field', () => {
    expect(formatPath([])).toBe('');
    expect(formatPath(['actor', 'id'])).toBe('actor.id');
    expect(formatPath(['resources', 0, 'id'])).toBe('resources[0].id');
    expect(formatPath(['change', 'after', 'a', 2, 3, 'b'])).toBe('change.after.a[2][3].b');
  });

  it('reports every problem of an event, each with the event index', () => {
    const issues = issuesOf({ id: 'x', action: 'x', actor: { type: 'user', id: '' } }, 37);
    expect(issues.map((issue) => [issue.index, issue.path]).sort()).toEqual([
      [37, 'action'],
      [37, 'actor.id'],
      [37, 'id'],
    ]);
  });

  it('summarises the first issue in the error message: which event, which field, what is wrong', () => {
    const error = new InvalidEventsError([
      { index: 37, path: 'actor.id', message: 'must not be empty' },
      { index: 40, path: 'time', message: 'must be an RFC 3339 date-time' },
    ]);
    expect(error.message).toBe('event 37 field actor.id: must not be empty (and 1 more)');
    expect(error.code).toBe('invalid_event');
    expect(new InvalidEventsError([{ index: 2, path: '', message: 'record is too large' }]).message).toBe(
      'event 2: record is too large',
    );
  });
});
