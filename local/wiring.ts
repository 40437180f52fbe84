import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { DynamoLedgerStore } from '#adapters/dynamo-ledger-store.ts';
import { LocalSigner } from '#adapters/local-signer.ts';
import { createIngest } from '#core/ingest.ts';
import { openApiDocument } from '#core/openapi.ts';
import type { TenantsConfig } from '#core/tenancy.ts';
import { createIngestHandler } from '../lambdas/http/ingest.ts';
import { createReadHandler } from '../lambdas/http/read.ts';

export interface LocalAppOptions {
  region: string;
  deploymentOrigin: string;
  tenants: TenantsConfig;
  dynamodb: { endpoint: string; tableName: string };
  s3: { endpoint: string; bucket: string };
  signingKeyPem: string;
  dataDir: string;
}

export type ApiHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;
export type StreamHandler = (event: DynamoDBStreamEvent, context: Context) => Promise<DynamoDBBatchResponse | void>;

export interface LocalApp {
  api: Record<'ingest' | 'read', ApiHandler>;
  streamConsumers: Array<{ name: string; handler: StreamHandler }>;
  close?(): Promise<void>;
}

const localCredentials = { accessKeyId: 'local', secretAccessKey: 'local' };

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
  return {
    api: { ingest: (event) => ingest(event), read: (event) => read(event) },
    streamConsumers: [],
    close: async () => dynamodb.destroy(),
  };
}
