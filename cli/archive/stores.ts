import { mkdir, readdir, readFile, readFile as readFileSync, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { z } from 'zod';
import type { ArchiveStore } from '#core/ports.ts';
import { InputError, UsageError } from '../errors.ts';

/**
 * Opening an archive named on the command line: a directory laid out as the bucket (an `aws s3 sync` copy,
 * or a test archive) or `s3://bucket/prefix`. Both behind the ArchiveStore port, read-mostly.
 */
export class DirectoryArchiveStore implements ArchiveStore {
  readonly root: string;
  constructor(root: string) {
    this.root = resolve(root);
  }

  private path(key: string): string {
    const path = resolve(this.root, ...key.split('/'));
    if (!path.startsWith(this.root + sep))
      throw new UsageError(`archive key ${key} leaves the archive directory`);
    return path;
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const path = this.path(key);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, body);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.path(key)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    let entries: string[];
    try {
      entries = (await readdir(this.root, { recursive: true, withFileTypes: true }))
        .filter((entry) => entry.isFile())
        .map((entry) => relative(this.root, join(entry.parentPath, entry.name)).split(sep).join('/'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    yield* entries.filter((key) => key.startsWith(prefix)).sort();
  }
}

/** An archive under `s3://bucket/prefix` (keys are relative to the prefix). */
export class S3ArchiveStore implements ArchiveStore {
  constructor(
    readonly client: S3Client,
    readonly bucket: string,
    readonly prefix = '',
  ) {}

  async put(key: string, body: Uint8Array, contentType: string): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.prefix + key,
        Body: body,
        ContentType: contentType,
        ChecksumAlgorithm: 'SHA256',
      }),
    );
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }),
      );
      return response.Body ? await response.Body.transformToByteArray() : new Uint8Array();
    } catch (error) {
      if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw error;
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.prefix + prefix,
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      for (const object of page.Contents ?? []) if (object.Key) yield object.Key.slice(this.prefix.length);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
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
    : new S3ArchiveStore(new S3Client(location.config), location.bucket, location.prefix);
}

export const describeLocation = (location: ArchiveLocation) =>
  location.kind === 'directory' ? location.path : `s3://${location.bucket}/${location.prefix}`;
