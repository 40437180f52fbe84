import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

/**
 * s3rver checks SigV4 only for the access key id, and knows just this one pair: any other key id gets
 * InvalidAccessKeyId.
 */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface S3LocalOptions {
  /** The archive bucket, created at start (kept if it already exists). */
  readonly bucket: string;
  /** Where objects live. @default - a temporary directory, deleted on stop */
  readonly directory?: string;
  /** Port on 127.0.0.1. @default - a free port */
  readonly port?: number;
}

export interface S3Local {
  readonly endpoint: string;
  readonly port: number;
  readonly bucket: string;
  readonly directory: string;
  /** Closes the server (and deletes a temporary directory). Idempotent. */
  stop(): Promise<void>;
}

/**
 * AWS SDK v3 settings that work against s3rver (checked by test/unit/local-s3.test.ts):
 * - `forcePathStyle`: s3rver treats any non-IP host as a virtual-hosted bucket name.
 * - `requestChecksumCalculation: 'WHEN_REQUIRED'`: by default the SDK sends streaming bodies as
 *   `aws-chunked` with a trailing checksum, which s3rver stores verbatim (chunk headers and all). With
 *   WHEN_REQUIRED it only does so when the caller sets `ChecksumAlgorithm`, so Object Lock puts must pass
 *   the body as a string or bytes (then the checksum travels in a header), never as a stream.
 * - `responseChecksumValidation: 'WHEN_REQUIRED'`: s3rver returns no checksums to validate.
 * s3rver accepts but ignores Content-MD5, x-amz-checksum-*, Object Lock headers and If-None-Match on
 * PUT: nothing is verified, retained or protected from overwrite locally.
 */
export function localS3ClientConfig(endpoint: string, region = 'us-east-1'): S3ClientConfig {
  return {
    endpoint,
    region,
    forcePathStyle: true,
    credentials: { ...S3RVER_CREDENTIALS },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
}

/** Starts s3rver on 127.0.0.1 with the bucket created. */
export async function startS3Local(options: S3LocalOptions): Promise<S3Local> {
  const temporary = options.directory === undefined;
  const directory = temporary ? mkdtempSync(join(tmpdir(), 'audit-s3-')) : resolve(options.directory!);
  mkdirSync(directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port: options.port ?? 0,
    silent: true,
    directory,
    configureBuckets: [{ name: options.bucket, configs: [] }],
  });
  const address = await server.run();
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await server.close();
      if (temporary) rmSync(directory, { recursive: true, force: true });
    })();
    return stopping;
  };
  const endpoint = `http://127.0.0.1:${address.port}`;
  return { endpoint, port: address.port, bucket: options.bucket, directory, stop };
}
