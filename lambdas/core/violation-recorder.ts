import { createHash } from 'node:crypto';
import { EventConflictError } from './errors.ts';
import { createIngest } from './ingest.ts';
import type {
  IntegrityViolation,
  MonitorRun,
  RecordedViolation,
  RecordViolations,
  UnrecordedViolation,
  ViolationRecording,
} from './integrity-monitor.ts';
import type { LedgerStore } from './ports.ts';
import type { CallerIdentity } from './record.ts';
import { INTEGRITY_VIOLATION_ACTION } from './report-queries.ts';
import { type AuditEventInput, LIMITS } from './schema.ts';
import type { Signer } from './signer.ts';
import { logOrigin, type TenantConfig, type TenantsConfig } from './tenancy.ts';

/**
 * Integrity violations recorded in the trail itself (docs/REPORTS.md, `integrity-alerts`): one audit event
 * per violation, appended to the affected tenant's trail through the ingest use case, so it is signed,
 * archived and queryable like any other event.
 *
 * The event (an ordinary `AuditEventInput`):
 * - `id`: a name-based UUID (RFC 9562 version 8, SHA-256) of the finding and the window it was detected in
 *   (`violationEventId`); a re-run of the same finding in the same window finds the id taken and records
 *   nothing (the ingest API's idempotency key: nothing is ever stored twice);
 * - `time`: when the monitor detected it; `category` `system`, `action` `integrity.violation`,
 *   `outcome` `failure`; `actor` `{type: system, id: audit-trail-integrity-monitor}`;
 * - `resources[0]` `{type: audit-log, id: <the violated log's origin>}` (`keys` for a public-key problem);
 * - `source` `{system: audit-trail}`; `change.summary`: the violation message;
 * - `metadata`: `check`, `leafIndex` and `eventId` where the violation names them, and `window` (its start).
 * The caller is the monitor itself (its role ARN, account, source IP `monitor`).
 *
 * Which log takes the events: the lowest-numbered log of the tenant that verified clean in this run, never
 * one with a violation (or one that could not be checked). Appending to a log that failed verification would
 * have the signing key sign on top of whatever state the tamperer left: after a rolled-back head it would
 * sign a second, different tree at sizes the archive already holds; after a rewritten frontier, a root over
 * forged hashes. So a tenant whose every log is violated (always the case with a single shard) gets no
 * event: its violations are reported as not recorded (the bus entry and the metric still carry them).
 */

export const MONITOR_ACTOR_ID = 'audit-trail-integrity-monitor';
/** `resources[0].type` of a violation event; its id is the violated log's origin. */
export const VIOLATED_LOG_RESOURCE_TYPE = 'audit-log';
export const MONITOR_SOURCE_SYSTEM = 'audit-trail';
/** `caller.sourceIp` of the monitor's records: it calls the ingest use case in process, not over HTTP. */
export const MONITOR_SOURCE_IP = 'monitor';
/** Violations of the public keys (not of one log) carry this origin; they are recorded for every tenant. */
export const KEYS_ORIGIN = 'keys';
/** A finding that persists is recorded once per window (its first detection in it). */
export const DEFAULT_RECORD_WINDOW_MS = 24 * 3600_000;

const ID_NAMESPACE = 'audit-trail/integrity-violation/v1';

export interface ViolationRecorderDeps {
  readonly store: LedgerStore;
  readonly signer: Signer;
  readonly deploymentOrigin: string;
  readonly tenants: TenantsConfig;
  /** The monitor's own identity: its role ARN and account. */
  readonly identity: Pick<CallerIdentity, 'principalArn' | 'accountId'>;
  /** @default DEFAULT_RECORD_WINDOW_MS (one UTC day) */
  readonly windowMs?: number;
  /** Receive time of the records. @default the system clock */
  readonly clock?: () => Date;
  /** One call per KMS signature (one per tenant with new violations and run). */
  readonly onSigned?: () => void;
}

/** What identifies one finding: the log, the check, where, and the window it was detected in. */
export interface FindingKey {
  readonly tenant: string;
  readonly origin: string;
  readonly check: string;
  readonly leafIndex?: number;
  readonly eventId?: string;
  /** Start of the detection window. */
  readonly window: Date;
  /** Tells apart findings of one run that share every other field (e.g. two key mismatches). */
  readonly occurrence?: number;
}

/** A name-based UUID (RFC 9562 §5.8, version 8, from SHA-256) of a finding: the same finding, the same id. */
export function violationEventId(key: FindingKey): string {
  // JSON.stringify, not canonicalize: an event id quoted from the table may hold a lone surrogate, which
  // JSON.stringify escapes deterministically and RFC 8785 rejects.
  const name = JSON.stringify([
    ID_NAMESPACE,
    key.tenant,
    key.origin,
    key.check,
    key.leafIndex ?? null,
    key.eventId ?? null,
    key.window.toISOString(),
    ...(key.occurrence ? [key.occurrence] : []),
  ]);
  const bytes = createHash('sha256').update(name).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80; // version 8
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // RFC 9562 variant
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Start of the window `time` falls in (windows are aligned to the Unix epoch, so a day is a UTC day). */
export const recordWindow = (time: Date, windowMs = DEFAULT_RECORD_WINDOW_MS) =>
  new Date(Math.floor(time.getTime() / windowMs) * windowMs);

/** The audit event describing one violation. */
export function violationEvent(
  violation: IntegrityViolation,
  context: { readonly id: string; readonly detectedAt: Date; readonly window: Date },
): AuditEventInput {
  const metadata: Record<string, string | number> = { check: safeText(violation.check, 1024) };
  if (violation.leafIndex !== undefined && Number.isSafeInteger(violation.leafIndex)) {
    metadata.leafIndex = violation.leafIndex;
  }
  if (violation.eventId) metadata.eventId = safeText(violation.eventId, 1024);
  metadata.window = context.window.toISOString();
  return {
    id: context.id,
    time: context.detectedAt.toISOString(),
    action: INTEGRITY_VIOLATION_ACTION,
    category: 'system',
    outcome: 'failure',
    actor: { type: 'system', id: MONITOR_ACTOR_ID },
    resources: [{ type: VIOLATED_LOG_RESOURCE_TYPE, id: safeText(violation.origin, 2048) }],
    source: { system: MONITOR_SOURCE_SYSTEM },
    change: { summary: safeText(violation.message || violation.check, LIMITS.textLength) },
    metadata,
  };
}

/**
 * Text from the table (an event id, a message quoting it) may be anything an attacker wrote: kept within
 * the schema's limits and made valid Unicode, so a hostile value cannot make the record invalid.
 */
function safeText(text: string, max: number): string {
  const clipped = text.length > max ? `${text.slice(0, max - 1)}…` : text;
  return clipped.toWellFormed() || '-';
}

/** The tenant and shard of `<deploymentOrigin>/<tenant>/<shard>`; undefined for any other origin. */
export function parseLogOrigin(
  deploymentOrigin: string,
  origin: string,
): { tenant: string; shard: number } | undefined {
  if (!origin.startsWith(`${deploymentOrigin}/`)) return undefined;
  const match = /^([^/]+)\/(\d+)$/.exec(origin.slice(deploymentOrigin.length + 1));
  return match ? { tenant: match[1]!, shard: Number(match[2]) } : undefined;
}

/**
 * The recorder the monitor's handler injects (`IntegrityMonitorDeps.recordViolations`): per tenant, one
 * ingest request (one signature) for the violations not yet recorded in this window.
 */
export function createViolationRecorder(deps: ViolationRecorderDeps): RecordViolations {
  const windowMs = deps.windowMs ?? DEFAULT_RECORD_WINDOW_MS;
  if (!Number.isSafeInteger(windowMs) || windowMs < 1000) {
    throw new Error(`windowMs must be a whole number of milliseconds of at least 1000, got ${windowMs}`);
  }
  const clock = deps.clock ?? (() => new Date());
  const identity: CallerIdentity = { ...deps.identity, sourceIp: MONITOR_SOURCE_IP };
  const ingests = new Map<string, ReturnType<typeof createIngest>>();
  /** One ingest per target log (the use case picks the shard), created once: it caches the registered key. */
  const ingestInto = (shard: number) => {
    const key = String(shard);
    let ingest = ingests.get(key);
    if (!ingest) {
      ingest = createIngest({
        store: deps.store,
        signer: deps.signer,
        deploymentOrigin: deps.deploymentOrigin,
        pickShard: () => shard,
        ...(deps.onSigned ? { onSigned: deps.onSigned } : {}),
      });
      ingests.set(key, ingest);
    }
    return ingest;
  };

  return async (violations, run) => {
    const window = recordWindow(run.detectedAt, windowMs);
    const recorded: RecordedViolation[] = [];
    const failed: UnrecordedViolation[] = [];
    const byTenant = new Map<string, IntegrityViolation[]>();
    for (const violation of violations) {
      const tenants = tenantsOf(violation.origin);
      if (tenants.length === 0) {
        failed.push(
          unrecorded(violation, undefined, `${violation.origin} is not a log of a configured tenant`),
        );
      }
      for (const tenant of tenants) byTenant.set(tenant, [...(byTenant.get(tenant) ?? []), violation]);
    }
    for (const [tenant, list] of byTenant) {
      try {
        recorded.push(...(await recordForTenant(tenant, list, run, window)));
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        failed.push(...list.map((violation) => unrecorded(violation, tenant, reason)));
      }
    }
    return { recorded, failed } satisfies ViolationRecording;
  };

  function tenantsOf(origin: string): string[] {
    if (origin === KEYS_ORIGIN) return deps.tenants.tenants.map((tenant) => tenant.name);
    const log = parseLogOrigin(deps.deploymentOrigin, origin);
    const tenant = log && deps.tenants.tenants.find((candidate) => candidate.name === log.tenant);
    return tenant && log.shard < tenant.shards ? [tenant.name] : [];
  }

  async function recordForTenant(
    tenantName: string,
    violations: readonly IntegrityViolation[],
    run: MonitorRun,
    window: Date,
  ): Promise<RecordedViolation[]> {
    const tenant = deps.tenants.tenants.find((candidate) => candidate.name === tenantName)!;
    const shard = cleanShard(tenant, run);
    if (shard === undefined) {
      throw new Error(
        `tenant ${tenant.name} has no log that verified clean in this run; a violated log is never extended ` +
          '(that would sign on top of the tampered state)',
      );
    }
    const seen = new Map<string, number>();
    const events = violations.map((violation) => {
      const key = { tenant: tenant.name, ...violation, window };
      const base = violationEventId(key);
      const occurrence = seen.get(base) ?? 0;
      seen.set(base, occurrence + 1);
      const id = occurrence === 0 ? base : violationEventId({ ...key, occurrence });
      return { violation, event: violationEvent(violation, { id, detectedAt: run.detectedAt, window }) };
    });
    const results = new Map<
      string,
      { origin: string; leafIndex: number; status: RecordedViolation['status'] }
    >();
    const ingest = ingestInto(shard);
    // Twice at most: a concurrent run (a retried invocation) may record some ids in between.
    for (let attempt = 1; attempt <= 2; attempt++) {
      const pending = events.filter(({ event }) => !results.has(event.id));
      const existing = await deps.store.getEvents(
        tenant.name,
        pending.map(({ event }) => event.id),
      );
      for (const [id, stored] of existing) {
        results.set(id, { origin: stored.origin, leafIndex: stored.leafIndex, status: 'already-recorded' });
      }
      const fresh = pending.filter(({ event }) => !existing.has(event.id)).map(({ event }) => event);
      try {
        for (let start = 0; start < fresh.length; start += LIMITS.maxBatchEvents) {
          const batch = fresh.slice(start, start + LIMITS.maxBatchEvents);
          const result = await ingest({
            caller: { tenant: tenant.name, shards: tenant.shards, roles: new Set(['writer']) },
            identity,
            receivedAt: clock(),
            body: { events: batch },
          });
          batch.forEach((event, index) => {
            const receipt = result.receipts[index]!;
            results.set(event.id, {
              origin: receipt.origin,
              leafIndex: receipt.leafIndex,
              status: 'recorded',
            });
          });
        }
        break;
      } catch (error) {
        if (!(error instanceof EventConflictError) || attempt === 2) throw error;
      }
    }
    return events.map(({ violation, event }) => {
      const result = results.get(event.id)!;
      return {
        origin: violation.origin,
        check: violation.check,
        ...(violation.leafIndex !== undefined ? { leafIndex: violation.leafIndex } : {}),
        tenant: tenant.name,
        eventId: event.id,
        recordedIn: result.origin,
        recordedLeafIndex: result.leafIndex,
        status: result.status,
      };
    });
  }

  /** The tenant's lowest-numbered log that the run verified clean. */
  function cleanShard(tenant: TenantConfig, run: MonitorRun): number | undefined {
    const status = new Map(run.logs.map((log) => [log.origin, log.status]));
    for (let shard = 0; shard < tenant.shards; shard++) {
      if (status.get(logOrigin(deps.deploymentOrigin, tenant.name, shard)) === 'ok') return shard;
    }
    return undefined;
  }
}

function unrecorded(
  violation: IntegrityViolation,
  tenant: string | undefined,
  reason: string,
): UnrecordedViolation {
  return {
    origin: violation.origin,
    check: violation.check,
    ...(violation.leafIndex !== undefined ? { leafIndex: violation.leafIndex } : {}),
    ...(tenant !== undefined ? { tenant } : {}),
    message: `not recorded in the trail: ${reason}`,
  };
}
