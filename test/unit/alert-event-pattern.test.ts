import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileEventPattern, EventPatternError, matchesEventPattern } from '#core/event-pattern.ts';

/** The example event of aws/event-ruler's README and the EventBridge user guide. */
const ec2 = {
  version: '0',
  id: 'ddddd4-aaaa-7777-4444-345dd43cc333',
  'detail-type': 'EC2 Instance State-change Notification',
  source: 'aws.ec2',
  account: '012345679012',
  time: '2017-10-02T16:24:49Z',
  region: 'us-east-1',
  resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000'],
  detail: {
    'c-count': 5,
    'd-count': 3,
    'x-limit': 301.8,
    'source-ip': '10.0.0.33',
    'instance-id': 'i-000000aaaaaa00000',
    state: 'running',
  },
};

const withDetail = (detail: Record<string, unknown>) => ({ ...ec2, detail: { ...ec2.detail, ...detail } });

describe('event patterns: documented examples', () => {
  it('matches exact values, any value of a list, and the intersection with an event array', () => {
    const pattern = {
      'detail-type': ['EC2 Instance State-change Notification'],
      resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000'],
      detail: { state: ['initializing', 'running'] },
    };
    expect(matchesEventPattern(pattern, ec2)).toBe(true);
    expect(matchesEventPattern(pattern, withDetail({ state: 'initializing' }))).toBe(true);
    expect(matchesEventPattern(pattern, withDetail({ state: 'stopped' }))).toBe(false);
    expect(matchesEventPattern(pattern, { ...ec2, resources: ['other', ec2.resources[0]] })).toBe(true);
    expect(matchesEventPattern(pattern, { ...ec2, resources: [] })).toBe(false);
  });

  it('requires every field (AND) and ignores fields the pattern does not name', () => {
    expect(matchesEventPattern({ source: ['aws.ec2'], detail: { state: ['running'] } }, ec2)).toBe(true);
    expect(matchesEventPattern({ source: ['aws.ec2'], detail: { state: ['stopped'] } }, ec2)).toBe(false);
    expect(matchesEventPattern({ source: ['aws.ec2'], detail: { absent: ['x'] } }, ec2)).toBe(false);
  });

  it('matches prefix and suffix on strings only, optionally ignoring case', () => {
    expect(matchesEventPattern({ time: [{ prefix: '2017-10-02' }] }, ec2)).toBe(true);
    expect(matchesEventPattern({ time: [{ prefix: '2017-10-03' }] }, ec2)).toBe(false);
    expect(matchesEventPattern({ source: [{ suffix: 'ec2' }] }, ec2)).toBe(true);
    expect(matchesEventPattern({ source: [{ suffix: 'EC2' }] }, ec2)).toBe(false);
    expect(matchesEventPattern({ source: [{ suffix: { 'equals-ignore-case': 'EC2' } }] }, ec2)).toBe(true);
    expect(matchesEventPattern({ source: [{ prefix: { 'equals-ignore-case': 'AWS.' } }] }, ec2)).toBe(true);
    expect(matchesEventPattern({ detail: { 'c-count': [{ prefix: '5' }] } }, ec2)).toBe(false);
  });

  it('matches equals-ignore-case', () => {
    expect(matchesEventPattern({ source: [{ 'equals-ignore-case': 'AWS.EC2' }] }, ec2)).toBe(true);
    expect(matchesEventPattern({ source: [{ 'equals-ignore-case': 'aws.ec' }] }, ec2)).toBe(false);
  });

  it('matches wildcards, with escaped stars and backslashes', () => {
    const service = (source: string) => ({ ...ec2, source });
    expect(
      matchesEventPattern({ source: [{ wildcard: 'Simple*Service' }] }, service('SimpleQueueService')),
    ).toBe(true);
    expect(matchesEventPattern({ source: [{ wildcard: 'Simple*Service' }] }, service('SimpleService'))).toBe(
      true,
    );
    expect(
      matchesEventPattern({ source: [{ wildcard: 'Simple*Service' }] }, service('SimpleQueueServices')),
    ).toBe(false);
    expect(matchesEventPattern({ source: [{ wildcard: 'a\\*b' }] }, service('a*b'))).toBe(true);
    expect(matchesEventPattern({ source: [{ wildcard: 'a\\*b' }] }, service('axb'))).toBe(false);
    expect(matchesEventPattern({ source: [{ wildcard: 'a\\\\b' }] }, service('a\\b'))).toBe(true);
    expect(matchesEventPattern({ source: [{ wildcard: 'a.c' }] }, service('abc'))).toBe(false);
  });

  it('matches anything-but values, lists, prefixes, suffixes, ignore-case and wildcards', () => {
    const state = (pattern: unknown, value: unknown) =>
      matchesEventPattern({ detail: { state: [pattern] } }, withDetail({ state: value }));
    expect(state({ 'anything-but': 'initializing' }, 'running')).toBe(true);
    expect(state({ 'anything-but': 'initializing' }, 'initializing')).toBe(false);
    expect(state({ 'anything-but': ['stopped', 'overloaded'] }, 'running')).toBe(true);
    expect(state({ 'anything-but': ['stopped', 'overloaded'] }, 'stopped')).toBe(false);
    expect(state({ 'anything-but': { prefix: 'init' } }, 'initializing')).toBe(false);
    expect(state({ 'anything-but': { prefix: 'init' } }, 'running')).toBe(true);
    expect(state({ 'anything-but': { suffix: '.png' } }, 'image.png')).toBe(false);
    expect(state({ 'anything-but': { suffix: '.png' } }, 'image.jpg')).toBe(true);
    expect(state({ 'anything-but': { 'equals-ignore-case': 'INITIALIZING' } }, 'initializing')).toBe(false);
    expect(state({ 'anything-but': { 'equals-ignore-case': ['A', 'B'] } }, 'c')).toBe(true);
    expect(state({ 'anything-but': { wildcard: '*/lib/*' } }, '/usr/lib/x')).toBe(false);
    expect(state({ 'anything-but': { wildcard: '*/lib/*' } }, '/usr/bin/x')).toBe(true);
    expect(matchesEventPattern({ detail: { 'x-limit': [{ 'anything-but': [100, 200, 300] }] } }, ec2)).toBe(
      true,
    );
    expect(matchesEventPattern({ detail: { 'x-limit': [{ 'anything-but': 301.8 }] } }, ec2)).toBe(false);
  });

  it('never matches anything-but on an absent field', () => {
    expect(matchesEventPattern({ detail: { absent: [{ 'anything-but': 'x' }] } }, ec2)).toBe(false);
  });

  it('matches numeric comparisons and ranges on JSON numbers only', () => {
    const pattern = {
      detail: {
        'c-count': [{ numeric: ['>', 0, '<=', 5] }],
        'd-count': [{ numeric: ['<', 10] }],
        'x-limit': [{ numeric: ['=', 3.018e2] }],
      },
    };
    expect(matchesEventPattern(pattern, ec2)).toBe(true);
    expect(matchesEventPattern(pattern, withDetail({ 'c-count': 6 }))).toBe(false);
    expect(matchesEventPattern(pattern, withDetail({ 'c-count': 0 }))).toBe(false);
    expect(matchesEventPattern(pattern, withDetail({ 'c-count': '5' }))).toBe(false);
  });

  it('matches exists on leaf fields: an object-valued field does not exist', () => {
    expect(matchesEventPattern({ detail: { 'c-count': [{ exists: true }] } }, ec2)).toBe(true);
    expect(matchesEventPattern({ detail: { 'c-count': [{ exists: false }] } }, ec2)).toBe(false);
    const nested = withDetail({ 'c-count': { c1: 100 } });
    expect(matchesEventPattern({ detail: { 'c-count': [{ exists: false }] } }, nested)).toBe(true);
    expect(matchesEventPattern({ detail: { 'c-count': [{ exists: true }] } }, nested)).toBe(false);
    expect(
      matchesEventPattern({ detail: { nothing: [{ exists: false }] } }, { ...ec2, detail: undefined }),
    ).toBe(true);
  });

  it('tells null and the empty string apart', () => {
    const event = { ...ec2, detail: { eventVersion: '', responseElements: null } };
    expect(matchesEventPattern({ detail: { eventVersion: [''] } }, event)).toBe(true);
    expect(matchesEventPattern({ detail: { responseElements: [null] } }, event)).toBe(true);
    expect(matchesEventPattern({ detail: { eventVersion: [null] } }, event)).toBe(false);
    expect(matchesEventPattern({ detail: { responseElements: [''] } }, event)).toBe(false);
  });

  it('compares types exactly: a string is not a number, a boolean is not a string', () => {
    expect(matchesEventPattern({ detail: { 'c-count': [5] } }, ec2)).toBe(true);
    expect(matchesEventPattern({ detail: { 'c-count': ['5'] } }, ec2)).toBe(false);
    expect(matchesEventPattern({ detail: { flag: [true] } }, withDetail({ flag: true }))).toBe(true);
    expect(matchesEventPattern({ detail: { flag: ['true'] } }, withDetail({ flag: true }))).toBe(false);
  });

  it('matches $or alternatives at any level, including nested and parallel ones', () => {
    const metric = {
      source: 'aws.cloudwatch',
      metricType: 'MetricType',
      namespace: 'AWS/EC2',
      metricId: 1234,
    };
    const nested = {
      source: ['aws.cloudwatch'],
      $or: [
        { metricName: ['CPUUtilization', 'ReadLatency'] },
        {
          metricType: ['MetricType'],
          namespace: ['AWS/EC2', 'AWS/ES'],
          $or: [{ metricId: [1234] }, { spaceId: [1000] }],
        },
        { scope: ['Service'] },
      ],
    };
    expect(matchesEventPattern(nested, metric)).toBe(true);
    expect(matchesEventPattern(nested, { ...metric, metricId: 1 })).toBe(false);
    expect(matchesEventPattern(nested, { source: 'aws.cloudwatch', scope: 'Service' })).toBe(true);
    expect(matchesEventPattern(nested, { source: 'aws.other', scope: 'Service' })).toBe(false);
  });

  it('treats $or as a field name unless it is a list of two or more objects', () => {
    expect(matchesEventPattern({ $or: ['x'] }, { $or: 'x' })).toBe(true);
    expect(matchesEventPattern({ $or: { a: ['b'] } }, { $or: { a: 'b' } })).toBe(true);
  });

  it('matches a nested pattern within one element of an array of objects (array consistency)', () => {
    const employees = {
      employees: [
        { firstName: 'John', lastName: 'Doe' },
        { firstName: 'Anna', lastName: 'Smith' },
        { firstName: 'Peter', lastName: 'Jones' },
      ],
    };
    expect(matchesEventPattern({ employees: { firstName: ['Anna'] } }, employees)).toBe(true);
    expect(matchesEventPattern({ employees: { firstName: ['Anna'], lastName: ['Smith'] } }, employees)).toBe(
      true,
    );
    expect(matchesEventPattern({ employees: { firstName: ['Anna'], lastName: ['Jones'] } }, employees)).toBe(
      false,
    );
  });
});

describe('event patterns: validation', () => {
  it.each([
    ['an empty pattern', {}],
    ['a bare value', { source: 'aws.ec2' }],
    ['an empty list', { source: [] }],
    ['an unknown operator', { source: [{ contains: 'ec2' }] }],
    ['two operators in one object', { source: [{ prefix: 'a', suffix: 'b' }] }],
    ['a numeric with a bad operator', { n: [{ numeric: ['!=', 1] }] }],
    ['a numeric with a string bound', { n: [{ numeric: ['<', '1'] }] }],
    ['consecutive wildcards', { s: [{ wildcard: 'a**b' }] }],
    ['a backslash escaping a letter', { s: [{ wildcard: 'a\\b' }] }],
    ['anything-but with a mixed list', { s: [{ 'anything-but': ['a', 1] }] }],
    ['anything-but with an unknown operator', { s: [{ 'anything-but': { numeric: ['<', 1] } }] }],
    ['exists with a string', { s: [{ exists: 'yes' }] }],
    ['cidr (not supported here)', { ip: [{ cidr: '10.0.0.0/24' }] }],
  ])('rejects %s', (_, pattern) => {
    expect(() => compileEventPattern(pattern)).toThrow(EventPatternError);
  });

  it('never throws while matching, whatever the event', () => {
    const match = compileEventPattern({
      source: [{ prefix: 'a' }],
      detail: {
        n: [{ numeric: ['>', 1] }],
        s: [{ 'anything-but': { suffix: 'x' } }],
        e: [{ exists: false }],
      },
    });
    fc.assert(fc.property(fc.jsonValue(), (event) => typeof match(event) === 'boolean'));
  });
});
