import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { DirectoryArchiveStore } from '#adapters/directory-archive.ts';
import { S3ArchiveStore } from '#adapters/s3-archive.ts';
import type { ArchiveStore } from '#core/ports.ts';
import { InputError } from '../errors.ts';

/**
 * Opening an archive named on the command line: a directory laid out as the bucket (an `aws s3 sync` copy,
 * or a test archive) or `s3://bucket/prefix`, through the project's ArchiveStore adapters.
 */
export { DirectoryArchiveStore };

/** Keys relative to a prefix inside the bucket (the adapters address the bucket's root). */
class PrefixedArchive implements ArchiveStore {
  constructor(
    private readonly inner: ArchiveStore,
    private readonly prefix: string,
  ) {}
  put(key: string, body: Uint8Array, contentType: string): Promise<void> {
    return this.inner.put(this.prefix + key, body, contentType);
  }
  get(key: string): Promise<Uint8Array | undefined> {
    return this.inner.get(this.prefix + key);
  }
  async *list(prefix: string): AsyncIterable<string> {
    for await (const key of this.inner.list(this.prefix + prefix)) yield key.slice(this.prefix.length);
  }
}

/** Where an archive is: parsed from `--archive`, or the sandbox's bucket. */
export type ArchiveLocation =
  | { readonly kind: 'directory'; readonly path: string }
  | {
      readonly kind: 's3';
      readonly bucket: string;
      readonly prefix: string;
      readonly config: S3ClientConfig;
    };

export function parseArchiveLocation(text: string, cwd: string, region?: string): ArchiveLocation {
  const s3 = /^s3:\/\/([^/]+)\/?(.*)$/.exec(text);
  if (!s3) return { kind: 'directory', path: resolve(cwd, text) };
  const prefix = s3[2] && !s3[2].endsWith('/') ? `${s3[2]}/` : (s3[2] ?? '');
  return { kind: 's3', bucket: s3[1]!, prefix, config: region ? { region } : {} };
}

const SandboxS3 = z.object({
  s3: z.object({ endpoint: z.url(), bucket: z.string().min(1) }),
  region: z.string().min(1),
});

/**
 * The sandbox archive from `.audit-local/sandbox.json`. Its S3-compatible server (s3rver) knows one fixed
 * key pair and needs path-style URLs (see local/services/s3.ts, not imported: the CLI must not load s3rver).
 */
export async function sandboxArchiveLocation(
  file: string,
  cwd: string,
): Promise<ArchiveLocation & { kind: 's3' }> {
  let info: z.infer<typeof SandboxS3>;
  try {
    info = SandboxS3.parse(JSON.parse(await readFile(resolve(cwd, file), 'utf8')));
  } catch (error) {
    throw new InputError(
      'no_sandbox',
      `cannot read the sandbox archive from ${file}: is the sandbox running (npm start)?`,
      {},
      { cause: error },
    );
  }
  return {
    kind: 's3',
    bucket: info.s3.bucket,
    prefix: '',
    config: {
      endpoint: info.s3.endpoint,
      region: info.region,
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    },
  };
}

export function openArchive(location: ArchiveLocation): ArchiveStore {
  return location.kind === 'directory'
    ? new DirectoryArchiveStore(location.path)
    : new PrefixedArchive(
        new S3ArchiveStore(new S3Client(location.config), location.bucket),
        location.prefix,
      );
}

export const describeLocation = (location: ArchiveLocation) =>
  location.kind === 'directory' ? location.path : `s3://${location.bucket}/${location.prefix}`;
