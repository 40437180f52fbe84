import { z } from 'zod';
import { isWellFormed } from './canonical.ts';

/**
 * Limits of the write path, in one place (documented in the README and the OpenAPI document).
 * - A batch is one DynamoDB transaction: 100 items at most, two of which are the log's append record and
 *   a spare, so 98 events; 4 MB at most, so the batch's records may total 3.5 MB.
 * - A record (what is hashed) is at most 128 KiB, well under DynamoDB's 400 KB item limit.
 */
export const LIMITS = {
  maxBatchEvents: 98,
  maxRecordBytes: 128 * 1024,
  maxBatchRecordBytes: 3_500_000,
  /** Lambda's synchronous payload limit is 6 MB; the body must fit with the rest of the event. */
  maxBodyBytes: 5 * 1024 * 1024,
  maxResources: 50,
  maxMetadataEntries: 50,
  maxJsonDepth: 16,
  idLength: 256,
  nameLength: 512,
  textLength: 4096,
  changeStringLength: 65_536,
} as const;

const text = (max: number) =>
  z
    .string()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .refine(isWellFormed, 'must be valid Unicode (no lone surrogates)');

/** Integers must be exact in every JSON implementation that verifies the record (RFC 8785 §3.2.2.3). */
const isExactNumber = (value: number) =>
  Number.isFinite(value) && (!Number.isInteger(value) || Number.isSafeInteger(value));

/** Free-form JSON (change.before / change.after): bounded depth, exact numbers, valid Unicode. */
const JsonValue = z.unknown().superRefine((value, ctx) => {
  const problem = findJsonProblem(value, 0);
  if (problem) ctx.addIssue({ code: 'custom', message: problem.message, path: problem.path });
});

function findJsonProblem(
  value: unknown,
  depth: number,
): { path: (string | number)[]; message: string } | undefined {
  if (depth > LIMITS.maxJsonDepth)
    return { path: [], message: `nests deeper than ${LIMITS.maxJsonDepth} levels` };
  if (value === null || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') {
    return isExactNumber(value)
      ? undefined
      : { path: [], message: 'numbers must be finite and integers within ±(2^53-1)' };
  }
  if (typeof value === 'string') {
    if (!isWellFormed(value)) return { path: [], message: 'must be valid Unicode (no lone surrogates)' };
    if (value.length > LIMITS.changeStringLength) {
      return { path: [], message: `strings must be at most ${LIMITS.changeStringLength} characters` };
    }
    return undefined;
  }
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((item, i) => [i, item])
    : typeof value === 'object'
      ? Object.entries(value)
      : [];
  if (entries.length === 0 && typeof value !== 'object') return { path: [], message: 'must be JSON' };
  for (const [key, item] of entries) {
    if (typeof key === 'string' && !isWellFormed(key))
      return { path: [key], message: 'keys must be valid Unicode' };
    const inner = findJsonProblem(item, depth + 1);
    if (inner) return { path: [key, ...inner.path], message: inner.message };
  }
  return undefined;
}

export const Category = z.enum([
  'provisioning',
  'configuration',
  'access',
  'deployment',
  'policy',
  'data',
  'system',
]);
export const Outcome = z.enum(['success', 'failure', 'denied', 'unknown']);

export const Actor = z.strictObject({
  type: z.enum(['user', 'service', 'system']),
  id: text(LIMITS.idLength),
  name: text(LIMITS.nameLength).optional(),
  ip: z.union([z.ipv4(), z.ipv6()], { error: 'must be an IPv4 or IPv6 address' }).optional(),
  userAgent: text(LIMITS.nameLength).optional(),
});

export const Resource = z.strictObject({
  type: text(128),
  id: text(2048),
  name: text(LIMITS.nameLength).optional(),
});

export const Source = z.strictObject({
  system: text(128),
  environment: text(64).optional(),
  region: text(64).optional(),
  account: text(64).optional(),
});

export const Change = z.strictObject({
  before: JsonValue.optional(),
  after: JsonValue.optional(),
  summary: text(LIMITS.textLength).optional(),
});

const MetadataValue = z.union([
  text(1024),
  z.number().refine(Number.isSafeInteger, 'must be an integer within ±(2^53-1)'),
  z.boolean(),
]);

/** An event as a tool sends it (DESIGN.md: AuditEventInput). Strict: unknown fields are rejected. */
export const AuditEventInput = z.strictObject({
  // UUIDs compare case-insensitively (RFC 9562 §4): one spelling keeps an id one idempotency key.
  id: z.uuid('must be a UUID').toLowerCase(),
  time: z.iso.datetime({ offset: true, error: 'must be an RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z' }),
  action: z
    .string()
    .max(128, 'must be at most 128 characters')
    .regex(
      /^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z][A-Za-z0-9_-]*)+$/,
      'must be a dotted verb such as deployment.apply',
    ),
  category: Category,
  outcome: Outcome,
  actor: Actor,
  resources: z
    .array(Resource)
    .min(1, 'must name at least one resource')
    .max(LIMITS.maxResources, `must name at most ${LIMITS.maxResources} resources`),
  source: Source,
  change: Change.optional(),
  reason: text(LIMITS.textLength).optional(),
  correlationId: text(LIMITS.idLength).optional(),
  metadata: z
    .record(text(128), MetadataValue)
    .refine(
      (m) => Object.keys(m).length <= LIMITS.maxMetadataEntries,
      `must have at most ${LIMITS.maxMetadataEntries} entries`,
    )
    .optional(),
});
export type AuditEventInput = z.infer<typeof AuditEventInput>;

/** One problem with one event of a batch: which event, which field, what is wrong. */
export interface EventIssue {
  readonly index: number;
  readonly path: string;
  readonly message: string;
}

/** `resources[0].id` style paths, the way a person would point at the field. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`))
    .join('');
}

/** Flattens zod issues into per-field issues; an unknown key is reported at its own path. */
export function toEventIssues(index: number, error: z.ZodError): EventIssue[] {
  return error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        index,
        path: formatPath([...issue.path, key]),
        message: 'is not a known field',
      }));
    }
    return [{ index, path: formatPath(issue.path), message: issue.message }];
  });
}
