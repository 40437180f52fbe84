import { z } from 'zod';
import { SignedCheckpoint } from './checkpoint.ts';
import { AppendJson } from './wire.ts';

/**
 * The Object Lock archive's layout, defined once for the archiver, the archive verifier, the integrity
 * monitor, Glue/Athena (partition projection) and the local report engine.
 *
 * - `events/tenant=<tenant>/dt=<YYYY-MM-DD>/<log slug>-<first leaf>-<last leaf>.jsonl.gz`
 *   One gzip JSON-lines object per contiguous run of one log's leaves in a stream batch; `dt` is the UTC
 *   date of the first record's `receivedAt`. Each line is an `ArchivedEvent`. Keys are derived from the
 *   content (log and leaf range), so a retried batch rewrites the same bytes (a new version of the same
 *   object under Object Lock, never a different record). Readers de-duplicate on (origin, leafIndex):
 *   a retry after a partial failure may store a leaf in two objects, always with identical content.
 * - `checkpoints/<log slug>/<first start>-<last size>.jsonl`: the run's append records (`AppendJson`), one
 *   per line: every signed checkpoint with the previous checkpoint and frontiers it extended.
 * - `keys/<key slug>.json`: `{keyId, algorithm, publicKeyPem}` of every key that ever signed.
 */
export const ARCHIVE_PREFIXES = { events: 'events/', checkpoints: 'checkpoints/', keys: 'keys/' } as const;

/** One line of an events object: the exact record that was hashed, and where it sits in which log. */
export const ArchivedEvent = z.strictObject({
  origin: z.string(),
  leafIndex: z.number().int().nonnegative(),
  leafHash: z.string().regex(/^[0-9a-f]{64}$/),
  appendStart: z.number().int().nonnegative(),
  record: z.record(z.string(), z.unknown()),
});
export type ArchivedEvent = z.infer<typeof ArchivedEvent>;

export const ArchivedAppend = AppendJson;
export type ArchivedAppend = AppendJson;

export const ArchivedKey = z.strictObject({
  keyId: z.string(),
  algorithm: SignedCheckpoint.shape.algorithm,
  publicKeyPem: z.string(),
});

/** Origins contain `/` and other characters unsafe in one key segment; slugs are reversible. */
export const logSlug = (origin: string) => encodeURIComponent(origin);
export const originFromSlug = (slug: string) => decodeURIComponent(slug);

const pad = (n: number) => String(n).padStart(16, '0');

export const eventsObjectKey = (tenant: string, receivedAt: string, origin: string, firstLeaf: number, lastLeaf: number) =>
  `${ARCHIVE_PREFIXES.events}tenant=${tenant}/dt=${receivedAt.slice(0, 10)}/${logSlug(origin)}-${pad(firstLeaf)}-${pad(lastLeaf)}.jsonl.gz`;

export const checkpointsObjectKey = (origin: string, firstStart: number, lastSize: number) =>
  `${ARCHIVE_PREFIXES.checkpoints}${logSlug(origin)}/${pad(firstStart)}-${pad(lastSize)}.jsonl`;

export const keyObjectKey = (keyId: string) => `${ARCHIVE_PREFIXES.keys}${encodeURIComponent(keyId)}.json`;
