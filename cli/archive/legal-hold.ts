import {
  GetObjectLegalHoldCommand,
  ListObjectsV2Command,
  type ObjectLockLegalHoldStatus,
  PutObjectLegalHoldCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ARCHIVE_PREFIXES, logSlug, originFromSlug } from '#core/archive-layout.ts';

export interface LegalHoldOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** Archive prefix inside the bucket ('' or ending in '/'). */
  readonly prefix?: string;
  readonly tenant: string;
  /** dt partitions, inclusive (YYYY-MM-DD). */
  readonly fromPartition: string;
  readonly toPartition: string;
  readonly status: ObjectLockLegalHoldStatus;
  readonly dryRun?: boolean;
  /**
   * With status OFF, also release checkpoints/ and keys/ objects. They are shared by every range (and keys
   * by every tenant), and S3 has one legal hold flag per object, so releasing them could release another
   * matter's hold. @default false
   */
  readonly includeShared?: boolean;
}

export type HeldKind = 'events' | 'checkpoints' | 'keys';

export interface LegalHoldChange {
  readonly key: string;
  readonly kind: HeldKind;
  readonly before: ObjectLockLegalHoldStatus;
  /** False when the object already had the requested status (nothing sent). */
  readonly changed: boolean;
}

const EVENTS_OBJECT = /^events\/tenant=[^/]+\/dt=(\d{4}-\d{2}-\d{2})\/(.+)-(\d{16})-(\d{16})\.jsonl\.gz$/;
const CHECKPOINTS_OBJECT = /^checkpoints\/([^/]+)\/(\d{16})-(\d{16})\.jsonl$/;

/**
 * Sets (or releases) S3 Object Lock legal holds on what a matter needs: the tenant's events objects whose
 * dt partition is in range, the checkpoints objects of those logs from leaf 0 up to the last held leaf (the
 * chain that proves them), and every public key. Holds apply to each object's current version.
 */
export async function applyLegalHold(options: LegalHoldOptions): Promise<LegalHoldChange[]> {
  const targets = await holdTargets(options);
  const changes: LegalHoldChange[] = [];
  for (const { key, kind } of targets) {
    const before = await currentHold(options, key);
    const changed = before !== options.status;
    if (changed && !options.dryRun) {
      await options.client.send(
        new PutObjectLegalHoldCommand({
          Bucket: options.bucket,
          Key: prefixed(options, key),
          LegalHold: { Status: options.status },
        }),
      );
    }
    changes.push({ key, kind, before, changed });
  }
  return changes;
}

const prefixed = (options: { readonly prefix?: string }, key: string) => `${options.prefix ?? ''}${key}`;

async function* listKeys(options: LegalHoldOptions, prefix: string): AsyncIterable<string> {
  for await (const key of listNames(options, prefixed(options, prefix), undefined))
    yield key.slice((options.prefix ?? '').length);
}

async function holdTargets(options: LegalHoldOptions): Promise<{ key: string; kind: HeldKind }[]> {
  const targets: { key: string; kind: HeldKind }[] = [];
  const lastLeaf = new Map<string, number>();
  for await (const key of listKeys(options, `${ARCHIVE_PREFIXES.events}tenant=${options.tenant}/`)) {
    const match = EVENTS_OBJECT.exec(key);
    if (!match || match[1]! < options.fromPartition || match[1]! > options.toPartition) continue;
    targets.push({ key, kind: 'events' });
    const origin = originFromSlug(match[2]!);
    lastLeaf.set(origin, Math.max(lastLeaf.get(origin) ?? 0, Number(match[4])));
  }
  if (options.status === 'OFF' && !options.includeShared) return targets;
  for (const [origin, last] of [...lastLeaf].sort()) {
    for await (const key of listKeys(options, `${ARCHIVE_PREFIXES.checkpoints}${logSlug(origin)}/`)) {
      const match = CHECKPOINTS_OBJECT.exec(key);
      if (match && Number(match[2]) <= last) targets.push({ key, kind: 'checkpoints' });
    }
  }
  if (targets.length === 0) return targets;
  for await (const key of listKeys(options, ARCHIVE_PREFIXES.keys)) targets.push({ key, kind: 'keys' });
  return targets;
}

/**
 * The tenants the archive holds events of (`events/tenant=<tenant>/`), listed by folder: a page per thousand
 * tenants, not per thousand objects. Some S3-compatible servers (s3rver, the sandbox's) answer a folder
 * listing of these keys with nothing; then, and only then, the objects themselves are listed.
 */
export async function tenantsWithEvents(
  options: Pick<LegalHoldOptions, 'client' | 'bucket' | 'prefix'>,
): Promise<string[]> {
  const folder = prefixed(options, ARCHIVE_PREFIXES.events);
  const tenants = new Set<string>();
  for (const delimiter of ['/', undefined]) {
    for await (const name of listNames(options, folder, delimiter)) {
      const tenant = /^tenant=([^/]+)\//.exec(name.slice(folder.length))?.[1];
      if (tenant !== undefined) tenants.add(tenant);
    }
    if (tenants.size > 0) break;
  }
  return [...tenants].sort();
}

/** Keys and folders (common prefixes, with a delimiter) under a full prefix, page by page. */
async function* listNames(
  options: Pick<LegalHoldOptions, 'client' | 'bucket'>,
  prefix: string,
  delimiter: string | undefined,
): AsyncIterable<string> {
  let token: string | undefined;
  do {
    const page = await options.client.send(
      new ListObjectsV2Command({
        Bucket: options.bucket,
        Prefix: prefix,
        ...(delimiter ? { Delimiter: delimiter } : {}),
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    for (const common of page.CommonPrefixes ?? []) if (common.Prefix) yield common.Prefix;
    for (const object of page.Contents ?? []) if (object.Key) yield object.Key;
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/** An object never given a legal hold answers with an error rather than OFF. */
async function currentHold(options: LegalHoldOptions, key: string): Promise<ObjectLockLegalHoldStatus> {
  try {
    const response = await options.client.send(
      new GetObjectLegalHoldCommand({ Bucket: options.bucket, Key: prefixed(options, key) }),
    );
    return response.LegalHold?.Status ?? 'OFF';
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchObjectLockConfiguration') return 'OFF';
    throw error;
  }
}
