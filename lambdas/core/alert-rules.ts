import { z } from 'zod';
import {
  compileEventPattern,
  type EventMatcher,
  type EventPattern,
  EventPatternError,
} from './event-pattern.ts';
import type { BusEntry, StoredEvent } from './ports.ts';

/**
 * The alert catalogue, defined once. CDK turns each rule into an `events.Rule` on the audit bus with the
 * pattern as-is; the sandbox evaluates the same patterns with `event-pattern.ts`.
 *
 * Bus entries (a stable contract, documented in docs/ALERTS.md — rules written by users depend on it):
 * - source `audit-trail`, detail-type `Audit Event Recorded`, one per stored event, detail
 *   `{ tenant, origin, leafIndex, eventId, record }` where `record` is the stored record (the client's
 *   event plus the server fields `tenant`, `receivedAt`, `caller`), exactly as it was hashed.
 * - source `audit-trail`, detail-type `Integrity Violation`, from the integrity monitor, detail
 *   `{ origin, check, leafIndex?, eventId?, message }`.
 */
export const AUDIT_SOURCE = 'audit-trail';
export const AUDIT_EVENT_DETAIL_TYPE = 'Audit Event Recorded';
export const INTEGRITY_VIOLATION_DETAIL_TYPE = 'Integrity Violation';

/** Detail of an `Audit Event Recorded` entry. Stable: add fields, never rename or remove them. */
export interface AuditEventDetail {
  readonly tenant: string;
  readonly origin: string;
  readonly leafIndex: number;
  readonly eventId: string;
  readonly record: Record<string, unknown>;
}

/** Detail of an `Integrity Violation` entry. Stable: add fields, never rename or remove them. */
export interface IntegrityViolationDetail {
  /** The log's origin (or `keys` for a problem with the public keys). */
  readonly origin: string;
  /** What failed, e.g. `truncated`, `fork`, `signature` (docs/ALERTS.md lists them). */
  readonly check: string;
  readonly leafIndex?: number;
  readonly eventId?: string;
  readonly message: string;
}

export const Severity = z.enum(['critical', 'high', 'medium', 'low']);
export type Severity = z.infer<typeof Severity>;

/** EventBridge rule names: 1-64 of letters, digits, `.`, `-`, `_`. */
const RuleName = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "-" and "_", at most 64 characters');

const Pattern = z.record(z.string(), z.unknown()).superRefine((pattern, ctx) => {
  try {
    compileEventPattern(pattern);
  } catch (error) {
    if (!(error instanceof EventPatternError)) throw error;
    ctx.addIssue({ code: 'custom', message: `not a supported event pattern: ${error.message}` });
  }
});

export const AlertRule = z.strictObject({
  name: RuleName,
  description: z.string().min(1).max(512),
  severity: Severity,
  /** EventBridge event pattern over the bus entries described above. */
  pattern: Pattern,
});
export type AlertRule = z.infer<typeof AlertRule>;

export const DEFAULT_PRODUCTION_ENVIRONMENTS = ['prod', 'production'] as const;

export const AlertRulesConfig = z.strictObject({
  /** Actor ids (as tools send them in `actor.id`) whose every action alerts. */
  breakGlassActors: z.array(z.string().min(1).max(256)).default([]),
  /** `source.environment` values that count as production (compared ignoring case). */
  productionEnvironments: z
    .array(z.string().min(1).max(64))
    .min(1)
    .default([...DEFAULT_PRODUCTION_ENVIRONMENTS]),
  /** More rules, with the same shape and the same bus entries as the catalogue's. */
  extraRules: z.array(AlertRule).default([]),
});
export type AlertRulesConfig = z.input<typeof AlertRulesConfig>;

const recorded = (record: EventPattern): EventPattern => ({
  source: [AUDIT_SOURCE],
  'detail-type': [AUDIT_EVENT_DETAIL_TYPE],
  detail: { record },
});

/** Change categories that alter production when they happen there without a stated reason. */
const CHANGE_CATEGORIES = ['provisioning', 'configuration', 'deployment', 'policy'];

/** The catalogue, extended from config. Throws (zod) with a readable message if the config is invalid. */
export function buildAlertRules(input: AlertRulesConfig): AlertRule[] {
  const config = AlertRulesConfig.parse(input);
  const production = config.productionEnvironments.map((environment) => ({
    'equals-ignore-case': environment,
  }));
  const rules: AlertRule[] = [
    {
      name: 'denied-or-failed-access',
      description: 'An access event was denied or failed.',
      severity: 'medium',
      pattern: recorded({ category: ['access'], outcome: ['denied', 'failure'] }),
    },
    {
      name: 'policy-change',
      description: 'A policy changed: category policy, or an IAM action (action starting with "iam.").',
      severity: 'high',
      pattern: recorded({ $or: [{ category: ['policy'] }, { action: [{ prefix: 'iam.' }] }] }),
    },
    {
      name: 'production-deletion',
      description: 'Something was deleted in production (action ending in ".delete").',
      severity: 'high',
      pattern: recorded({ source: { environment: production }, action: [{ suffix: '.delete' }] }),
    },
    {
      name: 'break-glass-actor',
      description: 'A break-glass identity or an account root user acted.',
      severity: 'critical',
      pattern: recorded({
        $or: [
          { actor: { id: [...config.breakGlassActors, { suffix: ':root' }] } },
          { caller: { principalArn: [{ suffix: ':root' }] } },
        ],
      }),
    },
    {
      name: 'production-change-without-reason',
      description: 'Production was changed without a reason (ticket or change request).',
      severity: 'medium',
      pattern: recorded({
        source: { environment: production },
        category: CHANGE_CATEGORIES,
        reason: [{ exists: false }],
      }),
    },
    {
      name: 'integrity-violation',
      description: 'The integrity monitor found the ledger and the archive disagree, or a check failed.',
      severity: 'critical',
      pattern: { source: [AUDIT_SOURCE], 'detail-type': [INTEGRITY_VIOLATION_DETAIL_TYPE] },
    },
  ];
  const all = [...rules, ...config.extraRules];
  const names = new Set<string>();
  for (const rule of all) {
    if (names.has(rule.name)) throw new Error(`alert rule ${rule.name} is defined twice`);
    names.add(rule.name);
  }
  return all;
}

/** The EventBridge envelope a rule pattern sees for a bus entry. */
export interface BusEnvelope {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: unknown;
}

/** Rules compiled once, for evaluating many entries (the sandbox's bus). */
export function compileAlertRules(rules: readonly AlertRule[]): (envelope: BusEnvelope) => AlertRule[] {
  const compiled: { rule: AlertRule; matches: EventMatcher }[] = rules.map((rule) => ({
    rule,
    matches: compileEventPattern(rule.pattern),
  }));
  return (envelope) => compiled.filter(({ matches }) => matches(envelope)).map(({ rule }) => rule);
}

/** The bus entry for one stored event. Throws if the stored record is not a JSON object. */
export function auditEventEntry(event: StoredEvent): BusEntry {
  const record: unknown = JSON.parse(event.record);
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw new TypeError(`record of event ${event.eventId} is not a JSON object`);
  }
  const detail: AuditEventDetail = {
    tenant: event.tenant,
    origin: event.origin,
    leafIndex: event.leafIndex,
    eventId: event.eventId,
    record: record as Record<string, unknown>,
  };
  const receivedAt = (record as { receivedAt?: unknown }).receivedAt;
  const time = typeof receivedAt === 'string' ? new Date(receivedAt) : undefined;
  return {
    source: AUDIT_SOURCE,
    detailType: AUDIT_EVENT_DETAIL_TYPE,
    detail,
    ...(time && !Number.isNaN(time.getTime()) ? { time } : {}),
  };
}

/** The bus entry for one integrity violation. */
export const integrityViolationEntry = (detail: IntegrityViolationDetail, time?: Date): BusEntry => ({
  source: AUDIT_SOURCE,
  detailType: INTEGRITY_VIOLATION_DETAIL_TYPE,
  detail,
  ...(time ? { time } : {}),
});

/**
 * Thrown by an EventBus when some entries were not accepted after its retries. `failed` holds their
 * indexes in the `publish` call, so a stream consumer can fail exactly the records behind them.
 */
export class EntriesNotPublishedError extends Error {
  override readonly name = 'EntriesNotPublishedError';
  constructor(
    readonly failed: readonly number[],
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
