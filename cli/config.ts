import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { z } from 'zod';
import type { Role } from '#core/tenancy.ts';
import type { AuditClientOptions, AwsCredentials, CredentialsProvider } from './client.ts';
import { InputError, UsageError } from './errors.ts';
import type { Io } from './io.ts';

/** Options every command accepts (DESIGN.md: CLI). */
export interface GlobalOptions {
  readonly json?: boolean;
  readonly endpoint?: string;
  readonly region?: string;
  readonly sandbox?: boolean;
  /** Another sandbox description than the default; implies `sandbox`. */
  readonly sandboxFile?: string;
  readonly profile?: string;
}

export const DEFAULT_SANDBOX_FILE = '.audit-local/sandbox.json';

const KeyPair = z.object({
  accessKeyId: z.string().min(1),
  secretAccessKey: z.string().min(1),
  sessionToken: z.string().optional(),
});

/** What `npm start` writes for clients: where the sandbox listens and a key pair per role. */
const SandboxFile = z.object({
  endpoint: z.url(),
  region: z.string().min(1),
  tenant: z.string().optional(),
  credentials: z.object({
    writer: KeyPair.optional(),
    reader: KeyPair.optional(),
    auditor: KeyPair.optional(),
  }),
});

export interface Connection {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials?: AwsCredentials | CredentialsProvider;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Endpoint, region and credentials for a command that acts as `role`: from the sandbox file, or from flags,
 * environment and the AWS credential chain (with --profile).
 */
export async function resolveConnection(options: GlobalOptions, role: Role, io: Io): Promise<Connection> {
  if (options.sandbox || options.sandboxFile) return sandboxConnection(options, role, io);
  const endpoint = options.endpoint ?? io.env.AUDIT_TRAIL_ENDPOINT;
  if (!endpoint)
    throw new UsageError('no endpoint: pass --endpoint URL (or set AUDIT_TRAIL_ENDPOINT), or --sandbox');
  checkEndpoint(endpoint);
  const region =
    options.region ?? io.env.AWS_REGION ?? io.env.AWS_DEFAULT_REGION ?? regionOfEndpoint(endpoint);
  if (!region) throw new UsageError('no region: pass --region (or set AWS_REGION)');
  return { endpoint, region, credentials: await chainCredentials(options.profile) };
}

async function sandboxConnection(options: GlobalOptions, role: Role, io: Io): Promise<Connection> {
  const file = options.sandboxFile ?? DEFAULT_SANDBOX_FILE;
  let text: string;
  try {
    text = await readFile(resolve(io.cwd, file), 'utf8');
  } catch (error) {
    throw new InputError(
      'no_sandbox',
      `cannot read ${file}: is the sandbox running (npm start)?`,
      {},
      { cause: error },
    );
  }
  let parsed: z.infer<typeof SandboxFile>;
  try {
    parsed = SandboxFile.parse(JSON.parse(text));
  } catch (error) {
    throw new InputError(
      'invalid_sandbox',
      `${file} is not a sandbox description: ${(error as Error).message}`,
    );
  }
  const credentials = parsed.credentials[role];
  if (!credentials) throw new InputError('invalid_sandbox', `${file} has no ${role} credentials`);
  const endpoint = options.endpoint ?? parsed.endpoint;
  checkEndpoint(endpoint);
  return { endpoint, region: options.region ?? parsed.region, credentials };
}

/** Plain HTTP only to this machine: anywhere else records and signatures would cross the network in clear. */
function checkEndpoint(endpoint: string): void {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new UsageError(`--endpoint ${endpoint} is not a URL`);
  }
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && LOOPBACK.has(url.hostname)) return;
  throw new UsageError(
    `--endpoint must be https (plain http is allowed for localhost only), got ${endpoint}`,
  );
}

/** `abc.execute-api.eu-west-1.amazonaws.com` names its region. */
export const regionOfEndpoint = (endpoint: string) =>
  /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(new URL(endpoint).hostname)?.[1];

async function chainCredentials(profile: string | undefined): Promise<AuditClientOptions['credentials']> {
  const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
  return fromNodeProviderChain(profile ? { profile } : {});
}
