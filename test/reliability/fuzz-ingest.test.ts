import { SignCommand } from '@aws-sdk/client-kms';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalSigner } from '#adapters/local-signer.ts';
import { createIngest } from '#core/ingest.ts';
import { LIMITS } from '#core/schema.ts';
import { InputError } from '../../cli/errors.ts';
import { parseEventsText, planBatches, validateEvents } from '../../cli/input.ts';
import { createIngestHandler } from '../../lambdas/http/ingest.ts';
import { lambdaContext } from '../support/apigw.ts';
import { makeEvent } from '../support/events.ts';
import { LEDGER_TABLE_DEFINITION, mockDynamoDb } from '../support/fake-dynamodb.ts';
import { fakeKmsKey, mockKms } from '../support/fake-kms.ts';
import { MemoryLedgerStore } from '../support/memory-ledger-store.ts';
import {
  ACCOUNT,
  AUDITOR,
  DEPLOYMENT_ORIGIN,
  postEvent,
  printCounts,
  READER,
  session,
  tenantsConfig,
  WRITER,
  WRITER_ROLE,
} from '../support/reliability-kit.ts';
import { CountingSigner } from '../support/signers.ts';

/**
 * Hostile and malformed POST /v1/events requests (fast-check, fixed seeds). Every generated request is
 * invalid by construction, so the handler must answer 4xx with `{"error":{"code"}}` from the documented
 * set, store nothing and sign nothing; never 5xx. The same texts go through the CLI's input parsing, which
 * may only fail with its typed InputError.
 */

/** Error codes of the API (README "Other errors", lambdas/http/responses.ts): clients branch on them. */
const DOCUMENTED_4XX_CODES = new Set([
  'invalid_request',
  'invalid_event',
  'forbidden',
  'not_found',
  'event_conflict',
  'payload_too_large',
  'unsupported_media_type',
  'throttled',
]);
const CLI_INPUT_CODES = new Set(['empty_input', 'invalid_json', 'duplicate_key', 'invalid_input']);

const RUNS = 10_000;
const LAMBDA_SAMPLE = 400;
const SEED = 20_260_531;

// ---------------------------------------------------------------------------------------------------------
// Hostile requests

type Identity =
  | 'writer'
  | 'no-arn'
  | 'no-account'
  | 'unknown'
  | 'reader'
  | 'auditor'
  | 'user-not-role'
  | 'lookalike'
  | 'other-account';

interface HostileCase {
  readonly kind: string;
  /** What was done, for failure messages. */
  readonly note: string;
  readonly body: string | null;
  readonly contentType?: string | null;
  readonly base64?: boolean;
  readonly identity?: Identity;
  /** Statuses this kind of request must get (any 4xx if absent). */
  readonly expect?: readonly number[];
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = readonly (string | number)[];

const baseEvent = (seed: number) => makeEvent(`fuzz-${seed}`) as unknown as { [key: string]: Json };
const bodyOf = (events: Json[]) => JSON.stringify({ events });

function setAt(root: Json, path: Path, value: Json): void {
  let target = root as Record<string | number, Json>;
  for (const part of path.slice(0, -1)) target = target[part] as Record<string | number, Json>;
  // defineProperty, so `__proto__` becomes an own key as JSON.parse would make it.
  Object.defineProperty(target, path[path.length - 1]!, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

const kindOf = (value: unknown) =>
  value === null
    ? 'null'
    : Array.isArray(value)
      ? 'array'
      : typeof value === 'number'
        ? Number.isInteger(value)
          ? 'integer'
          : 'float'
        : typeof value;

/** Fields of an event and the JSON kinds each accepts. */
const TYPED_FIELDS: ReadonlyArray<{ path: Path; kinds: readonly string[] }> = [
  { path: ['id'], kinds: ['string'] },
  { path: ['time'], kinds: ['string'] },
  { path: ['action'], kinds: ['string'] },
  { path: ['category'], kinds: ['string'] },
  { path: ['outcome'], kinds: ['string'] },
  { path: ['actor'], kinds: ['object'] },
  { path: ['actor', 'type'], kinds: ['string'] },
  { path: ['actor', 'id'], kinds: ['string'] },
  { path: ['actor', 'name'], kinds: ['string'] },
  { path: ['resources'], kinds: ['array'] },
  { path: ['resources', 0], kinds: ['object'] },
  { path: ['resources', 0, 'type'], kinds: ['string'] },
  { path: ['resources', 0, 'id'], kinds: ['string'] },
  { path: ['source'], kinds: ['object'] },
  { path: ['source', 'system'], kinds: ['string'] },
  { path: ['source', 'region'], kinds: ['string'] },
  { path: ['change'], kinds: ['object'] },
  { path: ['change', 'summary'], kinds: ['string'] },
  { path: ['reason'], kinds: ['string'] },
  { path: ['correlationId'], kinds: ['string'] },
  { path: ['metadata'], kinds: ['object'] },
  { path: ['metadata', 'pipeline'], kinds: ['string', 'integer', 'boolean'] },
];

/** String fields, their maximum length (UTF-16 units) and whether a number there is a type error. */
const STRING_FIELDS: ReadonlyArray<{ path: Path; max: number }> = [
  { path: ['actor', 'id'], max: LIMITS.idLength },
  { path: ['actor', 'name'], max: LIMITS.nameLength },
  { path: ['actor', 'userAgent'], max: LIMITS.nameLength },
  { path: ['resources', 0, 'type'], max: 128 },
  { path: ['resources', 0, 'id'], max: 2048 },
  { path: ['resources', 0, 'name'], max: LIMITS.nameLength },
  { path: ['source', 'system'], max: 128 },
  { path: ['source', 'environment'], max: 64 },
  { path: ['reason'], max: LIMITS.textLength },
  { path: ['correlationId'], max: LIMITS.idLength },
  { path: ['change', 'summary'], max: LIMITS.textLength },
  { path: ['change', 'before'], max: LIMITS.changeStringLength },
  { path: ['metadata', 'pipeline'], max: 1024 },
];

const KNOWN_KEYS: Record<string, readonly string[]> = {
  event: [
    'id',
    'time',
    'action',
    'category',
    'outcome',
    'actor',
    'resources',
    'source',
    'change',
    'reason',
    'correlationId',
    'metadata',
  ],
  actor: ['type', 'id', 'name', 'ip', 'userAgent'],
  resource: ['type', 'id', 'name'],
  source: ['system', 'environment', 'region', 'account'],
  change: ['before', 'after', 'summary'],
  body: ['events'],
};
const OBJECT_PATHS: Record<string, Path> = {
  event: [],
  actor: ['actor'],
  resource: ['resources', 0],
  source: ['source'],
  change: ['change'],
};

const wrongValue = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 12 }),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
) as fc.Arbitrary<Json>;

const seedArb = fc.nat({ max: 1_000_000 });

const brokenJson: fc.Arbitrary<HostileCase> = fc.oneof(
  fc.tuple(seedArb, fc.double({ min: 0, max: 0.9999, noNaN: true })).map(([seed, at]) => {
    const text = bodyOf([baseEvent(seed)]);
    return {
      kind: 'broken-json',
      note: 'truncated body',
      body: text.slice(0, Math.floor(at * (text.length - 1))),
      expect: [400],
    };
  }),
  fc
    .tuple(seedArb, fc.constantFrom('x', '}', ',', ']', '{', '"', 'null', '\u0000', ' ,{}'))
    .map(([seed, junk]) => ({
      kind: 'broken-json',
      note: `trailing ${JSON.stringify(junk)}`,
      body: bodyOf([baseEvent(seed)]) + junk,
      expect: [400],
    })),
  fc.tuple(seedArb, fc.constantFrom("'", '//', '/*x*/', '\uFEFF', ',', 'x')).map(([seed, junk]) => ({
    kind: 'broken-json',
    note: `leading ${JSON.stringify(junk)}`,
    body: junk + bodyOf([baseEvent(seed)]),
    expect: [400],
  })),
  fc
    .constantFrom(
      "{'events':[]}",
      '{"events":[],}',
      '{"events":[{"id":undefined}]}',
      '{events:[]}',
      '{"events":[{}],}',
      '{"events" [ ]}',
      '[1,2',
      '"unterminated',
      '{"a":1}{"b":2}',
    )
    .map((body) => ({ kind: 'broken-json', note: body, body, expect: [400] })),
  fc
    .string({ maxLength: 64 })
    .map((body) => ({ kind: 'broken-json', note: 'random text', body, expect: [400] })),
);

const wrongTypes: fc.Arbitrary<HostileCase> = fc.oneof(
  fc
    .tuple(seedArb, fc.constantFrom(...TYPED_FIELDS), wrongValue)
    .filter(([, field, value]) => !field.kinds.includes(kindOf(value)))
    .map(([seed, field, value]) => {
      const event = baseEvent(seed);
      setAt(event, field.path, value);
      return {
        kind: 'wrong-type',
        note: `${field.path.join('.')} = ${JSON.stringify(value)}`,
        body: bodyOf([event]),
        expect: [400],
      };
    }),
  wrongValue
    .filter((value) => !Array.isArray(value))
    .map((value) => ({
      kind: 'wrong-type',
      note: `events = ${JSON.stringify(value)}`,
      body: JSON.stringify({ events: value }),
      expect: [400],
    })),
  wrongValue
    .filter((value) => kindOf(value) !== 'object')
    .map((value) => ({
      kind: 'wrong-type',
      note: `events[0] = ${JSON.stringify(value)}`,
      body: bodyOf([value]),
      expect: [400],
    })),
);

const unknownKey = fc.oneof(
  fc.string({ minLength: 1, maxLength: 20 }),
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    'toString',
    'tenant',
    'receivedAt',
    'caller',
    'leafIndex',
    'ID',
    'Id',
    'id ',
    '\u0000id',
    'i\u200Bd',
  ),
);

const unknownFields: fc.Arbitrary<HostileCase> = fc.oneof(
  fc
    .tuple(
      seedArb,
      fc.constantFrom(...Object.keys(OBJECT_PATHS)),
      unknownKey,
      fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
    )
    .filter(([, where, key]) => !KNOWN_KEYS[where]!.includes(key))
    .map(([seed, where, key, value]) => {
      const event = baseEvent(seed);
      setAt(event, [...OBJECT_PATHS[where]!, key], value);
      return {
        kind: 'unknown-field',
        note: `${where}.${JSON.stringify(key)}`,
        body: bodyOf([event]),
        expect: [400],
      };
    }),
  fc
    .tuple(
      seedArb,
      unknownKey.filter((key) => key !== 'events'),
    )
    .map(([seed, key]) => {
      const body = { events: [baseEvent(seed)] } as { [key: string]: Json };
      setAt(body, [key], 'x');
      return {
        kind: 'unknown-field',
        note: `body.${JSON.stringify(key)}`,
        body: JSON.stringify(body),
        expect: [400],
      };
    }),
  // A metadata key a JS object cannot hold as data: it must be refused, not silently dropped from the record.
  fc.tuple(seedArb, fc.constantFrom<Json>('x', 1, true)).map(([seed, value]) => {
    const event = baseEvent(seed);
    setAt(event, ['metadata', '__proto__'], value);
    return { kind: 'unknown-field', note: 'metadata.__proto__', body: bodyOf([event]), expect: [400] };
  }),
);

const fill = fc.constantFrom('a', 'é', '\u{1F600}', '\u202E', '\u001b');
const hugeStrings: fc.Arbitrary<HostileCase> = fc.oneof(
  {
    weight: 20,
    arbitrary: fc
      .tuple(seedArb, fc.constantFrom(...STRING_FIELDS), fc.integer({ min: 1, max: 40_000 }), fill)
      .map(([seed, field, extra, char]) => {
        const event = baseEvent(seed);
        // Limits count characters (code points; the free-form change strings count UTF-16 units, never fewer).
        const length = field.max + extra;
        setAt(event, field.path, char.repeat(length));
        return {
          kind: 'huge-string',
          note: `${field.path.join('.')} of ${length} characters`,
          body: bodyOf([event]),
          expect: [400],
        };
      }),
  },
  {
    weight: 4,
    arbitrary: fc.tuple(seedArb, fc.integer({ min: 129, max: 20_000 })).map(([seed, length]) => {
      const event = baseEvent(seed);
      setAt(event, ['metadata', 'k'.repeat(length)], 'v');
      return { kind: 'huge-string', note: `metadata key of ${length}`, body: bodyOf([event]), expect: [400] };
    }),
  },
  {
    weight: 4,
    arbitrary: fc.tuple(seedArb, fc.integer({ min: 1, max: 5000 })).map(([seed, extra]) => {
      const event = baseEvent(seed);
      event.action = `deployment.${'a'.repeat(118 + extra)}`;
      return {
        kind: 'huge-string',
        note: `action of ${event.action.length}`,
        body: bodyOf([event]),
        expect: [400],
      };
    }),
  },
  // Each string within its limit, the record over 128 KiB.
  {
    weight: 3,
    arbitrary: fc.tuple(seedArb, fc.integer({ min: 3, max: 6 })).map(([seed, parts]) => {
      const event = baseEvent(seed);
      event.change = {
        before: Array.from({ length: parts }, () => 'b'.repeat(LIMITS.changeStringLength)),
        summary: 'x',
      };
      return {
        kind: 'huge-string',
        note: `record of ${parts} x 64 KiB`,
        body: bodyOf([event]),
        expect: [400],
      };
    }),
  },
  // Over the body limit: 413 before parsing.
  {
    weight: 1,
    arbitrary: fc.tuple(seedArb, fc.integer({ min: 1, max: 200_000 })).map(([seed, extra]) => {
      const event = baseEvent(seed);
      event.reason = 'r'.repeat(LIMITS.maxBodyBytes + extra);
      return { kind: 'huge-string', note: 'body over 5 MiB', body: bodyOf([event]), expect: [413] };
    }),
  },
);

const hugeArrays: fc.Arbitrary<HostileCase> = fc.oneof(
  fc.tuple(seedArb, fc.integer({ min: LIMITS.maxResources + 1, max: 1000 })).map(([seed, count]) => {
    const event = baseEvent(seed);
    event.resources = Array.from({ length: count }, (_, i) => ({ type: 'bucket', id: `b-${i}` }));
    return { kind: 'huge-array', note: `${count} resources`, body: bodyOf([event]), expect: [400] };
  }),
  fc.tuple(seedArb, fc.integer({ min: LIMITS.maxBatchEvents + 1, max: 600 })).map(([seed, count]) => {
    const event = baseEvent(seed);
    return {
      kind: 'huge-array',
      note: `${count} events`,
      body: bodyOf(Array.from({ length: count }, () => event)),
      expect: [413],
    };
  }),
  fc.tuple(seedArb, fc.integer({ min: LIMITS.maxMetadataEntries + 1, max: 500 })).map(([seed, count]) => {
    const event = baseEvent(seed);
    event.metadata = Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, i]));
    return { kind: 'huge-array', note: `${count} metadata entries`, body: bodyOf([event]), expect: [400] };
  }),
  fc.tuple(seedArb, fc.integer({ min: 20_000, max: 30_000 })).map(([seed, count]) => {
    const event = baseEvent(seed);
    event.change = { after: Array.from({ length: count }, (_, i) => 100_000 + i) };
    return {
      kind: 'huge-array',
      note: `change.after of ${count} numbers`,
      body: bodyOf([event]),
      expect: [400],
    };
  }),
  fc.integer({ min: 1, max: 3000 }).map((count) => ({
    kind: 'huge-array',
    note: `${count} empty objects`,
    body: bodyOf(Array.from({ length: Math.min(count, LIMITS.maxBatchEvents) }, () => ({}))),
    expect: [400],
  })),
);

const nest = (depth: number, shape: 'array' | 'object', inner = '1') =>
  shape === 'array'
    ? `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`
    : `${'{"a":'.repeat(depth)}${inner}${'}'.repeat(depth)}`;

/** Replaces the JSON text of `"@@HOLE@@"` (set at `path`) with raw text. */
function withRaw(seed: number, path: Path, raw: string): string {
  const event = baseEvent(seed);
  setAt(event, path, '@@HOLE@@');
  return bodyOf([event]).replace('"@@HOLE@@"', raw);
}

const deepNesting: fc.Arbitrary<HostileCase> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(
        seedArb,
        fc.constantFrom<Path>(['change', 'before'], ['change', 'after']),
        fc.integer({ min: LIMITS.maxJsonDepth + 2, max: 5000 }),
        fc.constantFrom<'array' | 'object'>('array', 'object'),
      )
      .map(([seed, path, depth, shape]) => ({
        kind: 'deep-nesting',
        note: `${path.join('.')} ${shape} depth ${depth}`,
        body: withRaw(seed, path, nest(depth, shape)),
        expect: [400],
      })),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        seedArb,
        fc.constantFrom<Path>(
          ['metadata', 'pipeline'],
          ['actor'],
          ['resources'],
          ['reason'],
          ['source', 'system'],
          ['zz'],
        ),
        fc.integer({ min: 2, max: 3000 }),
        fc.constantFrom<'array' | 'object'>('array', 'object'),
      )
      .map(([seed, path, depth, shape]) => ({
        kind: 'deep-nesting',
        note: `${path.join('.')} ${shape} depth ${depth}`,
        body: withRaw(seed, path, nest(depth, shape)),
        expect: [400],
      })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 1000, max: 20_000 }), fc.constantFrom<'array' | 'object'>('array', 'object'))
      .map(([depth, shape]) => ({
        kind: 'deep-nesting',
        note: `body ${shape} depth ${depth}`,
        body: shape === 'array' ? nest(depth, 'array') : `{"events":[${nest(depth, 'object')}]}`,
        expect: [400],
      })),
  },
);

const LONE_SURROGATES = ['\ud800', '\udbff', '\udc00', '\udfff', '\udc00\ud800', 'x\ud83d'];
const SURROGATE_PATHS: readonly Path[] = [
  ['actor', 'id'],
  ['actor', 'name'],
  ['resources', 0, 'id'],
  ['source', 'system'],
  ['reason'],
  ['correlationId'],
  ['change', 'summary'],
  ['change', 'before'],
  ['change', 'after', 'nested'],
  ['metadata', 'pipeline'],
  ['id'],
  ['action'],
];
const loneSurrogates: fc.Arbitrary<HostileCase> = fc.oneof(
  fc
    .tuple(
      seedArb,
      fc.constantFrom(...SURROGATE_PATHS),
      fc.constantFrom(...LONE_SURROGATES),
      fc.string({ maxLength: 4 }),
    )
    .map(([seed, path, lone, around]) => {
      const event = baseEvent(seed);
      if (path[0] === 'change' && path[1] === 'after') event.change = { after: { nested: null } };
      setAt(event, path, `${around}${lone}${around}`);
      const body = bodyOf([event]);
      return {
        kind: 'lone-surrogate',
        note: `${path.join('.')} holds ${JSON.stringify(lone)}`,
        body,
        expect: [400],
      };
    }),
  fc
    .tuple(
      seedArb,
      fc.constantFrom<Path>(['metadata'], ['change', 'before']),
      fc.constantFrom(...LONE_SURROGATES),
    )
    .map(([seed, path, lone]) => {
      const event = baseEvent(seed);
      setAt(event, [...path, `k${lone}`], 'v');
      return {
        kind: 'lone-surrogate',
        note: `key in ${path.join('.')} holds ${JSON.stringify(lone)}`,
        body: bodyOf([event]),
        expect: [400],
      };
    }),
);

const NUMBER_TOKENS_EVERYWHERE = [
  'NaN',
  'Infinity',
  '-Infinity',
  '1e400',
  '-1e400',
  '9007199254740993',
  '-9007199254740993',
  '1e16',
  '123456789012345678901234567890',
  '0x10',
  '01',
  '+1',
  '.5',
  '1.',
  '1e',
  '--1',
];
const nanLike: fc.Arbitrary<HostileCase> = fc.oneof(
  // Where a number is allowed, only the inexact or non-JSON ones are invalid (-0 and 1.5 are fine in change).
  fc
    .tuple(
      seedArb,
      fc.constantFrom<Path>(['change', 'before'], ['change', 'after'], ['metadata', 'run']),
      fc.constantFrom(...NUMBER_TOKENS_EVERYWHERE),
    )
    .map(([seed, path, token]) => ({
      kind: 'nan-like',
      note: `${path.join('.')} = ${token}`,
      body: withRaw(seed, path, token),
      expect: [400],
    })),
  fc
    .tuple(seedArb, fc.constantFrom(...NUMBER_TOKENS_EVERYWHERE, '1.5', '2.000001', '-7.5e-3'))
    .map(([seed, token]) => ({
      kind: 'nan-like',
      note: `metadata.run = ${token}`,
      body: withRaw(seed, ['metadata', 'run'], token),
      expect: [400],
    })),
  fc
    .tuple(
      seedArb,
      fc.constantFrom<Path>(
        ['id'],
        ['time'],
        ['action'],
        ['actor', 'id'],
        ['resources', 0, 'id'],
        ['source', 'system'],
        ['reason'],
      ),
      fc.constantFrom(...NUMBER_TOKENS_EVERYWHERE, '-0', '0', '1.5'),
    )
    .map(([seed, path, token]) => ({
      kind: 'nan-like',
      note: `${path.join('.')} = ${token}`,
      body: withRaw(seed, path, token),
      expect: [400],
    })),
);

/** A key spelled differently but equal once parsed. */
const spell = (key: string, escaped: boolean) =>
  escaped ? `\\u${key.charCodeAt(0).toString(16).padStart(4, '0')}${key.slice(1)}` : key;

const DUPLICATE_SITES: ReadonlyArray<{
  where: string;
  anchor: (event: string) => number;
  key: string;
  value: string;
}> = [
  { where: 'body', anchor: () => 0, key: 'events', value: '[]' },
  { where: 'event', anchor: (text) => text.indexOf('[{') + 1, key: 'action', value: '"evil.action"' },
  {
    where: 'event',
    anchor: (text) => text.indexOf('[{') + 1,
    key: 'id',
    value: '"3b241101-e2bb-4255-8caf-4136c566a962"',
  },
  { where: 'event', anchor: (text) => text.indexOf('[{') + 1, key: 'outcome', value: '"denied"' },
  { where: 'actor', anchor: (text) => text.indexOf('"actor":{') + 8, key: 'id', value: '"mallory"' },
  { where: 'source', anchor: (text) => text.indexOf('"source":{') + 9, key: 'system', value: '"forged"' },
  { where: 'resource', anchor: (text) => text.indexOf('"resources":[{') + 13, key: 'id', value: '"other"' },
  { where: 'change', anchor: (text) => text.indexOf('"change":{') + 9, key: 'summary', value: '"nothing"' },
  { where: 'before', anchor: (text) => text.indexOf('"before":{') + 9, key: 'replicas', value: '0' },
  { where: 'metadata', anchor: (text) => text.indexOf('"metadata":{') + 11, key: 'run', value: '0' },
];
const duplicateKeys: fc.Arbitrary<HostileCase> = fc
  .tuple(seedArb, fc.constantFrom(...DUPLICATE_SITES), fc.boolean(), fc.boolean())
  .map(([seed, site, escaped, atEnd]) => {
    const text = bodyOf([baseEvent(seed)]);
    const pair = `"${spell(site.key, escaped)}":${site.value}`;
    const open = site.anchor(text);
    let body: string;
    if (atEnd) {
      // Just before the object's closing brace: the repeated key comes last, so JSON.parse would keep it.
      let depth = 0;
      let close = open;
      for (let i = open + 1; i < text.length; i++) {
        const c = text[i];
        if (c === '"') {
          i++;
          while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
        } else if (c === '{' || c === '[') depth++;
        else if (c === '}' || c === ']') {
          if (depth === 0) {
            close = i;
            break;
          }
          depth--;
        }
      }
      body = `${text.slice(0, close)},${pair}${text.slice(close)}`;
    } else {
      body = `${text.slice(0, open + 1)}${pair},${text.slice(open + 1)}`;
    }
    return {
      kind: 'duplicate-key',
      note: `${site.where}.${site.key}${escaped ? ' (escaped)' : ''}${atEnd ? ' last' : ' first'}`,
      body,
      expect: [400],
    };
  });

const wrongContentTypes: fc.Arbitrary<HostileCase> = fc
  .tuple(
    seedArb,
    fc.constantFrom<string | null>(
      null,
      '',
      'text/plain',
      'text/json',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/jsonx',
      'application/json-seq',
      'application/json5',
      'application/xml',
      'application/vnd.api+json',
      'json',
      'application/ json',
      'application/javascript',
      'x-application/json',
    ),
  )
  .map(([seed, contentType]) => ({
    kind: 'content-type',
    note: JSON.stringify(contentType),
    body: bodyOf([baseEvent(seed)]),
    contentType,
    expect: [415],
  }));

/** Bytes that are not UTF-8: a lone continuation, an overlong NUL, a CESU-8 surrogate, 0xFF, a cut sequence. */
const INVALID_UTF8 = [
  [0x80],
  [0xc0, 0x80],
  [0xed, 0xa0, 0x80],
  [0xff],
  [0xe2, 0x82],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
];
const base64Bodies: fc.Arbitrary<HostileCase> = fc.oneof(
  seedArb.map((seed) => ({
    kind: 'base64',
    note: 'plain JSON flagged base64',
    body: bodyOf([baseEvent(seed)]),
    base64: true,
    expect: [400],
  })),
  fc.uint8Array({ minLength: 0, maxLength: 256 }).map((bytes) => ({
    kind: 'base64',
    note: 'random bytes',
    body: Buffer.from(bytes).toString('base64'),
    base64: true,
    expect: [400],
  })),
  fc
    .tuple(
      seedArb,
      fc.constantFrom(...INVALID_UTF8),
      fc.constantFrom<Path>(['actor', 'name'], ['reason'], ['change', 'summary'], ['resources', 0, 'id']),
    )
    .map(([seed, bad, path]) => {
      const text = withRaw(seed, path, '"ok@@BYTES@@ok"');
      const [before, after] = text.split('@@BYTES@@') as [string, string];
      const bytes = Buffer.concat([Buffer.from(before), Buffer.from(bad), Buffer.from(after)]);
      return {
        kind: 'base64',
        note: `invalid UTF-8 ${Buffer.from(bad).toString('hex')} in ${path.join('.')}`,
        body: bytes.toString('base64'),
        base64: true,
        expect: [400],
      };
    }),
);

const emptyBodies: fc.Arbitrary<HostileCase> = fc
  .constantFrom<string | null>(
    null,
    '',
    ' ',
    '\n',
    'null',
    'true',
    '0',
    '""',
    '[]',
    '{}',
    '{"events":null}',
    '{"events":[]}',
    '{"events":{}}',
    '{"events":"[]"}',
    '{"events":[null]}',
    '{"events":[{}]}',
    '{"events":[[]]}',
    '{"Events":[]}',
  )
  .map((body) => ({ kind: 'empty', note: JSON.stringify(body), body, expect: [400] }));

const missingIdentity: fc.Arbitrary<HostileCase> = fc
  .tuple(
    seedArb,
    fc.constantFrom<Identity>(
      'no-arn',
      'no-account',
      'unknown',
      'reader',
      'auditor',
      'user-not-role',
      'lookalike',
      'other-account',
    ),
  )
  .map(([seed, identity]) => ({
    kind: 'identity',
    note: identity,
    body: bodyOf([baseEvent(seed)]),
    identity,
    expect: [403],
  }));

const hostileCase: fc.Arbitrary<HostileCase> = fc.oneof(
  { weight: 10, arbitrary: brokenJson },
  { weight: 12, arbitrary: wrongTypes },
  { weight: 10, arbitrary: unknownFields },
  { weight: 8, arbitrary: hugeStrings },
  { weight: 4, arbitrary: hugeArrays },
  { weight: 6, arbitrary: deepNesting },
  { weight: 8, arbitrary: loneSurrogates },
  { weight: 10, arbitrary: nanLike },
  { weight: 10, arbitrary: duplicateKeys },
  { weight: 5, arbitrary: wrongContentTypes },
  { weight: 6, arbitrary: base64Bodies },
  { weight: 4, arbitrary: emptyBodies },
  { weight: 5, arbitrary: missingIdentity },
);

function requestOf(hostile: HostileCase): APIGatewayProxyEvent {
  const principal =
    hostile.identity === 'reader'
      ? READER
      : hostile.identity === 'auditor'
        ? AUDITOR
        : hostile.identity === 'unknown'
          ? session(`arn:aws:iam::${ACCOUNT}:role/Stranger`)
          : hostile.identity === 'user-not-role'
            ? `arn:aws:iam::${ACCOUNT}:user/AcmeDeployer`
            : hostile.identity === 'lookalike'
              ? session(`${WRITER_ROLE}X`)
              : hostile.identity === 'other-account'
                ? `arn:aws:sts::999999999999:assumed-role/AcmeDeployer/s`
                : WRITER;
  const event = postEvent(hostile.body, {
    principal,
    ...(hostile.contentType !== undefined ? { contentType: hostile.contentType } : {}),
  });
  const identity = { ...event.requestContext.identity };
  if (hostile.identity === 'no-arn') identity.userArn = null;
  if (hostile.identity === 'no-account') identity.accountId = null;
  return {
    ...event,
    isBase64Encoded: hostile.base64 === true,
    requestContext: { ...event.requestContext, identity },
  };
}

interface Tally {
  tried: number;
  byKind: Map<string, number>;
  byCode: Map<string, number>;
  violations: string[];
}

const newTally = (): Tally => ({ tried: 0, byKind: new Map(), byCode: new Map(), violations: [] });
const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

/** Checks one response; returns what is wrong with it (nothing if it is a proper refusal). */
function judge(hostile: HostileCase, response: APIGatewayProxyResult, tally: Tally): void {
  tally.tried++;
  bump(tally.byKind, hostile.kind);
  const where = `${hostile.kind} (${hostile.note.slice(0, 120)})`;
  let code = '(none)';
  try {
    const parsed = JSON.parse(response.body) as { error?: { code?: unknown } };
    code = typeof parsed.error?.code === 'string' ? parsed.error.code : '(none)';
  } catch {
    tally.violations.push(`${where}: body is not JSON`);
  }
  bump(tally.byCode, `${response.statusCode}:${code}`);
  if (response.statusCode >= 500)
    tally.violations.push(`${where}: ${response.statusCode} ${response.body.slice(0, 200)}`);
  else if (response.statusCode < 400) tally.violations.push(`${where}: accepted with ${response.statusCode}`);
  else if (!DOCUMENTED_4XX_CODES.has(code)) tally.violations.push(`${where}: undocumented code ${code}`);
  else if (hostile.expect && !hostile.expect.includes(response.statusCode)) {
    tally.violations.push(`${where}: ${response.statusCode} ${code}, expected ${hostile.expect.join('/')}`);
  }
  const contentType = response.headers?.['content-type'];
  if (typeof contentType !== 'string' || !contentType.startsWith('application/json')) {
    tally.violations.push(`${where}: content-type ${String(contentType)}`);
  }
}

const summary = (tally: Tally) => ({
  tried: tally.tried,
  kinds: [...tally.byKind].map(([kind, n]) => `${kind}:${n}`).join(','),
  codes: [...tally.byCode]
    .sort()
    .map(([code, n]) => `${code}:${n}`)
    .join(','),
  violations: tally.violations.length,
});

// ---------------------------------------------------------------------------------------------------------

describe('fuzzing POST /v1/events with hostile bodies', () => {
  it(`rejects ${RUNS} malformed or hostile requests with a documented 4xx, storing and signing nothing`, async () => {
    const store = new MemoryLedgerStore();
    const signer = new CountingSigner(LocalSigner.generate('p256'));
    const handler = createIngestHandler({
      tenants: tenantsConfig(),
      ingest: createIngest({ store, signer, deploymentOrigin: DEPLOYMENT_ORIGIN }),
    });
    const tally = newTally();
    await fc.assert(
      fc.asyncProperty(hostileCase, async (hostile) => {
        judge(hostile, await handler(requestOf(hostile)), tally);
        if (store.size !== 0 && !tally.violations.some((v) => v.startsWith('stored'))) {
          tally.violations.push(`stored: ${hostile.kind} (${hostile.note}) left ${store.size} items`);
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
    printCounts('fuzz-ingest handler', { ...summary(tally), stored: store.size, signatures: signer.signs });
    expect(tally.violations.slice(0, 20)).toEqual([]);
    expect(tally.tried).toBe(RUNS);
    expect(store.size).toBe(0);
    expect(signer.signs).toBe(0);
    // Every kind of hostility was exercised.
    expect(tally.byKind.size).toBe(13);
  });
});

describe('fuzzing the real ingest Lambda entry (fake DynamoDB and KMS)', () => {
  const TABLE = 'rel-fuzz-ledger';
  const key = fakeKmsKey({ keyArn: `arn:aws:kms:eu-west-1:${ACCOUNT}:key/fuzz`, aliases: ['alias/fuzz'] });
  const kms = mockKms([key]);
  const { db, mock: dynamo } = mockDynamoDb({ [TABLE]: LEDGER_TABLE_DEFINITION });
  let handler: (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

  beforeAll(async () => {
    Object.assign(process.env, {
      AWS_REGION: 'eu-west-1',
      LEDGER_TABLE_NAME: TABLE,
      SIGNING_KEY_ID: 'alias/fuzz',
      SIGNING_ALGORITHM: 'ECDSA_SHA_256',
      DEPLOYMENT_ORIGIN,
      TENANTS_CONFIG: JSON.stringify(tenantsConfig()),
      POWERTOOLS_METRICS_NAMESPACE: 'AuditTrailReliability',
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    });
    ({ handler } = await import('#handlers/ingest.ts'));
  });

  afterAll(() => {
    kms.restore();
    dynamo.restore();
  });

  it(`rejects a sample of ${LAMBDA_SAMPLE} hostile requests: no 5xx, no item written, no KMS call`, async () => {
    const tally = newTally();
    const context = lambdaContext('ingest');
    for (const hostile of fc.sample(hostileCase, { seed: SEED + 1, numRuns: LAMBDA_SAMPLE })) {
      judge(hostile, await handler(requestOf(hostile), context), tally);
    }
    const items = db.items(TABLE).length;
    const signs = kms.commandCalls(SignCommand).length;
    printCounts('fuzz-ingest lambda entry', { ...summary(tally), items, kmsSigns: signs });
    expect(tally.violations.slice(0, 20)).toEqual([]);
    expect(tally.tried).toBe(LAMBDA_SAMPLE);
    expect(items).toBe(0);
    expect(signs).toBe(0);
  });

  it('accepts a valid request through the same entry (the fakes are wired, so the refusals above mean something)', async () => {
    const response = await handler(postEvent(bodyOf([baseEvent(-1)])), lambdaContext('ingest'));
    expect(response.statusCode).toBe(201);
    expect(db.items(TABLE).length).toBeGreaterThan(0);
  });
});

describe('fuzzing the CLI input parser (cli/input.ts)', () => {
  const jsonLines = fc
    .array(
      fc.oneof(
        seedArb.map((seed) => JSON.stringify(baseEvent(seed))),
        fc.constantFrom('{', '{"id":1}', '[]', 'null', '{"a":1,"a":2}', '  ', 'NaN', '{"events":[]}'),
        fc.string({ maxLength: 30 }),
      ),
      { minLength: 2, maxLength: 6 },
    )
    .chain((lines) => fc.constantFrom('\n', '\r\n').map((eol) => lines.join(eol)));
  const text = fc.oneof(
    {
      weight: 6,
      arbitrary: hostileCase.map((c) =>
        c.base64 && c.body ? Buffer.from(c.body, 'base64').toString('utf8') : (c.body ?? ''),
      ),
    },
    { weight: 2, arbitrary: jsonLines },
    { weight: 1, arbitrary: fc.string({ maxLength: 200, unit: 'binary' }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)) },
    {
      weight: 1,
      arbitrary: seedArb.map((seed) => `\uFEFF${JSON.stringify([baseEvent(seed), baseEvent(seed + 1)])}`),
    },
  );

  it(`fails ${RUNS} hostile inputs only with its typed InputError, and validates or plans what parses without throwing`, () => {
    let tried = 0;
    let parsed = 0;
    let rejected = 0;
    let valid = 0;
    const crashes: string[] = [];
    const codes = new Map<string, number>();
    fc.assert(
      fc.property(text, (input) => {
        tried++;
        let events: unknown[];
        try {
          events = parseEventsText(input, 'fuzz').events;
          parsed++;
        } catch (error) {
          if (error instanceof InputError && CLI_INPUT_CODES.has(error.code)) {
            rejected++;
            bump(codes, error.code);
          } else crashes.push(`parse: ${String(error).slice(0, 200)}`);
          return;
        }
        try {
          const issues = validateEvents(events);
          if (issues.length === 0) {
            valid++;
            const batches = planBatches(events);
            const covered = batches.reduce((sum, [start, end]) => sum + (end - start), 0);
            if (covered !== events.length) crashes.push(`planBatches covered ${covered} of ${events.length}`);
          } else if (
            issues.some((issue) => typeof issue.index !== 'number' || typeof issue.message !== 'string')
          ) {
            crashes.push('malformed issue');
          }
        } catch (error) {
          crashes.push(`validate: ${String(error).slice(0, 200)}`);
        }
      }),
      { seed: SEED + 2, numRuns: RUNS },
    );
    printCounts('fuzz-ingest cli input', {
      tried,
      parsed,
      rejected,
      validBatches: valid,
      crashes: crashes.length,
      codes: [...codes].map(([code, n]) => `${code}:${n}`).join(','),
    });
    expect(crashes.slice(0, 10)).toEqual([]);
    expect(tried).toBe(RUNS);
    expect(parsed + rejected).toBe(RUNS);
  });
});
