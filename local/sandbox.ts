import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { z } from 'zod';
import { type Role, resolveCaller, TenantsConfig } from '#core/tenancy.ts';
import {
  type AccessKeyPair,
  generateAccessKeyPair,
  type LocalCredential,
  looksLikeAwsAccessKey,
  SANDBOX_ROLES,
  type SandboxPrincipal,
  sandboxPrincipal,
} from './credentials.ts';
import { type LocalHttpServer, startHttpServer } from './http-server.ts';
import { ensureLedgerTable, localDynamoDbClientConfig, startDynamoDbLocal } from './services/dynamodb.ts';
import { startS3Local } from './services/s3.ts';
import { loadOrCreateSigningKey } from './signing-key.ts';
import { StreamPoller, type StreamPollerOptions } from './stream-poller.ts';
import { createLocalApp, type LocalApp, type LocalAppOptions } from './wiring.ts';

export const DEFAULT_DATA_DIR = '.audit-local';
export const SANDBOX_FILE = 'sandbox.json';
export const DEFAULT_REGION = 'us-east-1';
export const DEFAULT_DEPLOYMENT_ORIGIN = 'sandbox.audit-trail.local';
export const LEDGER_TABLE = 'audit-trail-ledger';
export const ARCHIVE_BUCKET = 'audit-trail-archive';

/** What `.audit-local/sandbox.json` holds: everything a client (the CLI's `--sandbox`) needs. */
export interface SandboxInfo {
  readonly endpoint: string;
  readonly region: string;
  /** The tenant the sandbox credentials belong to. */
  readonly tenant: string;
  readonly credentials: Record<Role, AccessKeyPair>;
  readonly dynamodb: { readonly endpoint: string; readonly table: string };
  readonly s3: { readonly endpoint: string; readonly bucket: string };
}

export interface SandboxOptions {
  /** HTTP port on 127.0.0.1; 0 picks a free one. @default - PORT from the environment, else 4000 */
  readonly port?: number;
  /** Holds sandbox.json (and, when persisting, all data). @default '.audit-local' in the working directory */
  readonly dataDir?: string;
  /** Keep the ledger, archive, key and stream positions in dataDir across restarts. @default false */
  readonly persist?: boolean;
  /** @default - tenant `demo`, 2 shards, the three sandbox principals as writer, reader and auditor */
  readonly tenants?: z.input<typeof TenantsConfig>;
  /** @default 'sandbox.audit-trail.local' */
  readonly deploymentOrigin?: string;
  /** @default 'us-east-1' */
  readonly region?: string;
  /** Builds the handlers. @default createLocalApp from local/wiring.ts */
  readonly createApp?: (options: LocalAppOptions) => Promise<LocalApp>;
  /** Event source mapping settings of every stream consumer. */
  readonly stream?: Pick<
    StreamPollerOptions,
    | 'batchSize'
    | 'maxRetryAttempts'
    | 'bisectBatchOnError'
    | 'pollIntervalMs'
    | 'retryBaseDelayMs'
    | 'startingPosition'
  >;
  /** Diagnostics (handler errors, dead letters). @default - stderr */
  readonly log?: (message: string) => void;
}

export interface Sandbox extends SandboxInfo {
  readonly dataDir: string;
  readonly persist: boolean;
  /** Who each credential signs as. */
  readonly principals: Record<Role, SandboxPrincipal>;
  readonly tenants: TenantsConfig;
  readonly streamArn: string;
  readonly app: LocalApp;
  readonly poller: StreamPoller;
  /** The stream consumers' on-failure destination (JSON lines). */
  readonly deadLetterFile: string;
  /** Resolves once every stream consumer has caught up with the ledger stream. */
  waitForIdle(options?: { timeoutMs?: number }): Promise<void>;
  /** Stops the server, the poller, the handlers and the local services (no Java left). Idempotent. */
  stop(): Promise<void>;
}

/** The default tenant table: one `demo` tenant whose writer, reader and auditor are the sandbox roles. */
export function defaultTenants(): TenantsConfig {
  return TenantsConfig.parse({
    tenants: [
      {
        name: 'demo',
        shards: 2,
        writers: [sandboxPrincipal('writer').roleArn],
        readers: [sandboxPrincipal('reader').roleArn],
        auditors: [sandboxPrincipal('auditor').roleArn],
      },
    ],
  });
}

/** Reads the sandbox.json a running (or last) sandbox wrote. */
export function readSandboxInfo(dataDir = DEFAULT_DATA_DIR): SandboxInfo {
  const path = join(resolve(dataDir), SANDBOX_FILE);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as SandboxInfo;
  } catch (error) {
    throw new Error(`no sandbox found at ${path}: start one with \`npm start\``, { cause: error });
  }
}

/** Starts the whole local pipeline; on any failure, stops what had started and rethrows. */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const stack: (() => Promise<void> | void)[] = [];
  try {
    return await startAll(options, stack);
  } catch (error) {
    await unwind(stack);
    throw error;
  }
}

async function unwind(stack: (() => Promise<void> | void)[]): Promise<void> {
  const errors: unknown[] = [];
  for (const step of stack.splice(0).reverse()) {
    try {
      await step();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, 'the sandbox did not stop cleanly');
}

async function startAll(options: SandboxOptions, stack: (() => Promise<void> | void)[]): Promise<Sandbox> {
  const log = options.log ?? ((message: string) => console.error(`[sandbox] ${message}`));
  const region = options.region ?? DEFAULT_REGION;
  const persist = options.persist ?? false;
  const dataDir = resolve(options.dataDir ?? DEFAULT_DATA_DIR);
  mkdirSync(dataDir, { recursive: true });
  // Without --persist the data lives in a temporary directory that stop() deletes.
  const stateDir = persist ? dataDir : mkdtempSync(join(tmpdir(), 'audit-sandbox-'));
  if (!persist) stack.push(() => rmSync(stateDir, { recursive: true, force: true }));
  const tenants = TenantsConfig.parse(options.tenants ?? defaultTenants());
  const keys = loadOrCreateCredentials(dataDir);

  // Started side by side (the JVM is the slow one); whichever started is stopped if the other failed.
  const [dynamoStart, s3Start] = await Promise.allSettled([
    startDynamoDbLocal({ dbPath: persist ? join(stateDir, 'dynamodb') : undefined }),
    startS3Local({ bucket: ARCHIVE_BUCKET, directory: join(stateDir, 's3') }),
  ]);
  for (const started of [dynamoStart, s3Start])
    if (started.status === 'fulfilled') stack.push(() => started.value.stop());
  if (dynamoStart.status === 'rejected') throw dynamoStart.reason;
  if (s3Start.status === 'rejected') throw s3Start.reason;
  const [dynamo, s3] = [dynamoStart.value, s3Start.value];
  const streamArn = await createTable(dynamo.endpoint, region);
  const signingKey = loadOrCreateSigningKey(join(stateDir, 'signing-key.pem'));

  const app = await (options.createApp ?? createLocalApp)({
    region,
    deploymentOrigin: options.deploymentOrigin ?? DEFAULT_DEPLOYMENT_ORIGIN,
    tenants,
    dynamodb: { endpoint: dynamo.endpoint, tableName: LEDGER_TABLE },
    s3: { endpoint: s3.endpoint, bucket: ARCHIVE_BUCKET },
    signingKeyPem: signingKey.pem,
    dataDir: stateDir,
  });
  stack.push(() => app.close?.());

  const deadLetterFile = join(stateDir, 'dead-letters.jsonl');
  const poller = new StreamPoller({
    ...options.stream,
    streamArn,
    endpoint: dynamo.endpoint,
    region,
    consumers: app.streamConsumers,
    deadLetterFile,
    positionsFile: persist ? join(stateDir, 'stream-positions.json') : undefined,
    log,
  });
  poller.start();
  stack.push(() => poller.stop());

  const credentials = credentialTable(keys);
  const server: LocalHttpServer = await startHttpServer({
    port: options.port,
    region,
    credentials,
    handlers: app.api,
    onHandlerError: (error, event) =>
      log(
        `${event.httpMethod} ${event.path} failed: ${error instanceof Error ? (error.stack ?? error.message) : error}`,
      ),
  });
  stack.push(() => server.close());

  const info: SandboxInfo = {
    endpoint: server.url,
    region,
    tenant: resolveCaller(tenants, sandboxPrincipal('writer').sessionArn)?.tenant ?? tenants.tenants[0]!.name,
    credentials: keys,
    dynamodb: { endpoint: dynamo.endpoint, table: LEDGER_TABLE },
    s3: { endpoint: s3.endpoint, bucket: ARCHIVE_BUCKET },
  };
  writeSandboxInfo(dataDir, info);

  let stopping: Promise<void> | undefined;
  return {
    ...info,
    dataDir,
    persist,
    principals: Object.fromEntries(SANDBOX_ROLES.map((role) => [role, sandboxPrincipal(role)])) as Record<
      Role,
      SandboxPrincipal
    >,
    tenants,
    streamArn,
    app,
    poller,
    deadLetterFile,
    waitForIdle: (wait) => poller.waitForIdle(wait),
    stop: () => {
      stopping ??= unwind(stack);
      return stopping;
    },
  };
}

async function createTable(endpoint: string, region: string): Promise<string> {
  const client = new DynamoDBClient(localDynamoDbClientConfig(endpoint, region));
  try {
    return (await ensureLedgerTable(client, LEDGER_TABLE)).streamArn;
  } finally {
    client.destroy();
  }
}

/**
 * Credentials are per data directory: kept in sandbox.json so a restarted sandbox accepts the keys it
 * printed before (and the CLI's `--sandbox` finds them).
 */
function loadOrCreateCredentials(dataDir: string): Record<Role, AccessKeyPair> {
  let saved: Partial<Record<Role, AccessKeyPair>> = {};
  try {
    saved = (JSON.parse(readFileSync(join(dataDir, SANDBOX_FILE), 'utf8')) as SandboxInfo).credentials ?? {};
  } catch {
    // First start in this data directory, or an unreadable file: make new keys.
  }
  const valid = (pair: AccessKeyPair | undefined, role: Role): pair is AccessKeyPair =>
    typeof pair?.accessKeyId === 'string' &&
    typeof pair.secretAccessKey === 'string' &&
    pair.accessKeyId.startsWith(`LOCAL${role.toUpperCase()}`) &&
    !looksLikeAwsAccessKey(pair.accessKeyId);
  return Object.fromEntries(
    SANDBOX_ROLES.map((role) => {
      const pair = saved[role];
      return [role, valid(pair, role) ? pair : generateAccessKeyPair(role)];
    }),
  ) as Record<Role, AccessKeyPair>;
}

function credentialTable(keys: Record<Role, AccessKeyPair>): LocalCredential[] {
  return SANDBOX_ROLES.map((role) => ({ ...keys[role], principal: sandboxPrincipal(role) }));
}

function writeSandboxInfo(dataDir: string, info: SandboxInfo): void {
  const path = join(dataDir, SANDBOX_FILE);
  // Local-only secrets, but secrets: readable by the owner alone. The rename makes the update atomic
  // for a CLI reading the file meanwhile.
  writeFileSync(`${path}.tmp`, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}
