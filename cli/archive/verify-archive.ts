import { ARCHIVE_PREFIXES, originFromSlug } from '#core/archive-layout.ts';
import type { ArchiveStore } from '#core/ports.ts';
import { tenantOfOrigin } from '#core/tenancy.ts';
import type { VerifyFailure } from '#core/verify-log.ts';
import { type TrailReport, verifyTrail } from '../verify-trail.ts';
import { archiveTrailSource } from './archive-source.ts';
import { type ArchiveContents, ArchiveReadError, readArchive } from './read-archive.ts';
import { verifyRegularArchive } from './regular-archive.ts';

export interface ArchiveVerification extends TrailReport {
  /** Objects read (keys, checkpoints and events objects). */
  readonly objects: number;
}

export interface VerifyArchiveOptions {
  /** Only the logs of this tenant. */
  readonly tenant?: string;
  readonly onProgress?: (progress: {
    readonly phase: 'objects' | 'logs' | 'events';
    readonly done: number;
    readonly total: number;
  }) => void;
  readonly now?: () => number;
}

/**
 * Verifies a trail from its archive alone: keys/, checkpoints/ and events/. Every log is replayed append by
 * append (leaf hashes, roots, signatures, each checkpoint extending the one before), must reach the archive's
 * latest checkpoint of that log, and every archived record must sit on a verified leaf.
 *
 * An archive as the archiver writes it is verified on the fast path (`verifyRegularArchive`), which reads
 * it as it verifies, log by log, without holding it in memory. Anything else, and any archive that fails,
 * is read whole and verified again on the full path, which reads every line and names the first thing that
 * does not hold.
 */
export async function verifyArchive(
  store: ArchiveStore,
  options: VerifyArchiveOptions = {},
): Promise<ArchiveVerification> {
  const now = options.now ?? Date.now;
  const started = now();
  const tenant = options.tenant ? { tenant: options.tenant } : {};
  const regular = await verifyRegularArchive(store, { ...tenant, onProgress: options.onProgress });
  if (regular) return { ...regular, elapsedMs: now() - started };
  let contents: ArchiveContents;
  try {
    contents = await readArchive(store, {
      ...tenant,
      onObject: (done) => options.onProgress?.({ phase: 'objects', done, total: done }),
    });
  } catch (error) {
    if (!(error instanceof ArchiveReadError)) throw error;
    return failedBeforeVerifying(error.failure, now() - started);
  }
  const report = await verifyTrail(archiveTrailSource(contents), {
    onProgress: (progress) => options.onProgress?.(progress),
    now,
  });
  const failure = report.failure && nameLostEvent(report.failure, contents);
  return {
    ...report,
    ...(failure ? { failure } : {}),
    objects: contents.objects,
    elapsedMs: now() - started,
  };
}

/** The tenants an archive holds logs of (each log's checkpoints sit under its origin), sorted. */
export async function archivedTenants(store: ArchiveStore): Promise<string[]> {
  const tenants = new Set<string>();
  for await (const key of store.list(ARCHIVE_PREFIXES.checkpoints)) {
    const slug = key.slice(ARCHIVE_PREFIXES.checkpoints.length).split('/')[0]!;
    let tenant: string | undefined;
    try {
      tenant = tenantOfOrigin(originFromSlug(slug));
    } catch {
      // Not an archiver's key (a malformed escape): it names no tenant.
    }
    if (tenant !== undefined) tenants.add(tenant);
  }
  return [...tenants].sort();
}

/** A truncation names the first lost leaf; the archived append that covered it knows its event. */
function nameLostEvent(failure: VerifyFailure, contents: ArchiveContents): VerifyFailure {
  if (failure.check !== 'truncated' || failure.eventId !== undefined || failure.leafIndex === undefined)
    return failure;
  const leaf = failure.leafIndex;
  const append = [...(contents.appends.get(failure.origin)?.values() ?? [])].find(
    (a) => a.start <= leaf && leaf < a.size,
  );
  const eventId = append?.eventIds[leaf - append.start];
  return eventId ? { ...failure, eventId, appendStart: append.start } : failure;
}

function failedBeforeVerifying(failure: VerifyFailure, elapsedMs: number): ArchiveVerification {
  return {
    ok: false,
    failure,
    logs: [],
    totals: { logs: 0, leaves: 0, appends: 0, signatures: 0 },
    eventsListed: 0,
    elapsedMs,
    objects: 0,
  };
}
