import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoHotRetention } from '#adapters/dynamo-hot-retention.ts';
import { appendFromItem, DynamoLedgerStore, eventFromItem } from '#adapters/dynamo-ledger-store.ts';
import { LocalSigner } from '#adapters/local-signer.ts';
import { S3ArchiveStore } from '#adapters/s3-archive.ts';
import { type AlertRulesConfig, buildAlertRules } from '#core/alert-rules.ts';
import { createIngest } from '#core/ingest.ts';
import { type MonitorSummary, monitoredOrigins, runIntegrityMonitor } from '#core/integrity-monitor.ts';
import { openApiDocument } from '#core/openapi.ts';
import type { TenantsConfig } from '#core/tenancy.ts';
import { createViolationRecorder } from '#core/violation-recorder.ts';
import { createIngestHandler } from '../lambdas/http/ingest.ts';
import { createReadHandler } from '../lambdas/http/read.ts';
import { createAlerter } from '../lambdas/streams/alerter.ts';
import { createArchiver } from '../lambdas/streams/archiver.ts';
import { type FiredAlert, LocalAlertBus } from './alert-bus.ts';
import { type ApiHandler, LOCAL_ACCOUNT_ID, type StreamHandler } from './lambda-runtime.ts';
import { localS3ClientConfig } from './services/s3.ts';

export interface LocalAppOptions {
  region: string;
  deploymentOrigin: string;
  tenants: TenantsConfig;
  dynamodb: { endpoint: string; tableName: string };
  s3: { endpoint: string; bucket: string };
  signingKeyPem: string;
  dataDir: string;
  /** Alert catalogue settings (as the stage config gives CDK). @default - no break-glass actors */
  alerts?: AlertRulesConfig;
  /** Days an archived record stays in the table (TTL); 0 turns hot retention off. @default 30 */
  hotRetentionDays?: number;
  /** Stream consumer errors and fired alerts. @default - stderr */
  log?: (message: string) => void;
}

export type { ApiHandler, StreamHandler };

export interface LocalApp {
  api: Record<'ingest' | 'read', ApiHandler>;
  streamConsumers: Array<{ name: string; handler: StreamHandler }>;
  /** Alerts fired so far (also appended to `<dataDir>/alerts.jsonl`), oldest first. */
  alerts?: readonly FiredAlert[];
  /** One run of the integrity monitor over every configured log, as the schedule would run it. */
  runMonitor?(): Promise<MonitorSummary>;
  close?(): Promise<void>;
}

const localCredentials = { accessKeyId: 'local', secretAccessKey: 'local' };

/** The role the sandbox's monitor records its `integrity.violation` events as (CDK: the monitor's role). */
export const SANDBOX_MONITOR_ROLE_ARN = `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/audit-trail-sandbox-monitor`;

/**
 * The same handler code as the Lambdas, wired to local services: DynamoDB Local for the ledger, the
 * S3-compatible server for the archive, and a local P-256 key behind the Signer port instead of KMS.
 */
export async function createLocalApp(options: LocalAppOptions): Promise<LocalApp> {
  const dynamodb = new DynamoDBClient({
    region: options.region,
    endpoint: options.dynamodb.endpoint,
    credentials: localCredentials,
  });
  const store = new DynamoLedgerStore(dynamodb, options.dynamodb.tableName);
  const signer = LocalSigner.fromPem(options.signingKeyPem);
  const ingest = createIngestHandler({
    tenants: options.tenants,
    ingest: createIngest({ store, signer, deploymentOrigin: options.deploymentOrigin }),
  });
  const read = createReadHandler({
    store,
    tenants: options.tenants,
    deploymentOrigin: options.deploymentOrigin,
    openApi: openApiDocument,
  });
  const log = options.log ?? ((message: string) => console.error(`[sandbox] ${message}`));
  const s3 = new S3Client(localS3ClientConfig(options.s3.endpoint, options.region));
  const archive = new S3ArchiveStore(s3, options.s3.bucket);
  const bus = new LocalAlertBus({
    rules: buildAlertRules(options.alerts ?? {}),
    region: options.region,
    file: join(options.dataDir, 'alerts.jsonl'),
    print: log,
  });
  const streamLog = (consumer: string) => ({
    error: (message: string, extra: Record<string, unknown>) =>
      log(
        `${consumer}: ${message} (record ${extra.index}: ${(extra.error as Error | undefined)?.message ?? 'unknown error'})`,
      ),
  });
  const codec = { eventFromItem, appendFromItem };
  const hotRetentionDays = options.hotRetentionDays ?? 30;
  const archiver = createArchiver({
    archive,
    codec,
    log: streamLog('archiver'),
    ...(hotRetentionDays > 0
      ? { hotRetention: new DynamoHotRetention(dynamodb, options.dynamodb.tableName, hotRetentionDays) }
      : {}),
  });
  const alerter = createAlerter({ bus, codec, log: streamLog('alerter') });
  const origins = monitoredOrigins(options.tenants, options.deploymentOrigin);
  // The same recorder as the Lambda's, with the local signer and store.
  const recordViolations = createViolationRecorder({
    store,
    signer,
    deploymentOrigin: options.deploymentOrigin,
    tenants: options.tenants,
    identity: { principalArn: SANDBOX_MONITOR_ROLE_ARN, accountId: LOCAL_ACCOUNT_ID },
  });
  const runMonitor = async (): Promise<MonitorSummary> => {
    const summary = await runIntegrityMonitor({ store, archive, bus, origins, recordViolations });
    for (const failure of summary.recording?.failed ?? []) {
      log(`monitor: violation ${failure.check} of ${failure.origin} ${failure.message}`);
    }
    return summary;
  };
  return {
    api: { ingest: (event) => ingest(event), read: (event) => read(event) },
    streamConsumers: [
      { name: 'archiver', handler: (event, context) => archiver(event, context) },
      { name: 'alerter', handler: (event, context) => alerter(event, context) },
    ],
    alerts: bus.fired,
    runMonitor,
    close: async () => {
      dynamodb.destroy();
      s3.destroy();
    },
  };
}
