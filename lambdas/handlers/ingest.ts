import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { DynamoLedgerStore } from '#adapters/dynamo-ledger-store.ts';
import { KmsSigner } from '#adapters/kms-signer.ts';
import { ENV } from '#core/env-names.ts';
import { createIngest } from '#core/ingest.ts';
import { createIngestHandler } from '../http/ingest.ts';
import { requireEnv, signingAlgorithmFromEnv, tenantsFromEnv } from './env.ts';
import { createLogger } from './logger.ts';

const logger = createLogger();
const metrics = new Metrics();
const tenants = tenantsFromEnv();
const store = new DynamoLedgerStore(new DynamoDBClient({}), requireEnv(ENV.ledgerTable));
const signer = new KmsSigner(new KMSClient({}), requireEnv(ENV.signingKey), signingAlgorithmFromEnv());

const handleRequest = createIngestHandler({
  tenants,
  ingest: createIngest({
    store,
    signer,
    deploymentOrigin: requireEnv(ENV.deploymentOrigin),
    onSigned: () => metrics.addMetric('checkpointsSigned', MetricUnit.Count, 1),
  }),
  observe: ({ status, accepted, appended, error }) => {
    metrics.addMetric(status < 300 ? 'eventsAccepted' : 'eventsRejected', MetricUnit.Count, accepted || 1);
    metrics.addMetric('eventsAppended', MetricUnit.Count, appended);
    if (status >= 500) logger.error('ingest failed', { status, error });
    else if (status >= 400)
      logger.warn('ingest rejected', { status, error: (error as Error | undefined)?.message });
  },
});

/** POST /v1/events (API Gateway REST, AWS_IAM). */
export const handler = async (event: APIGatewayProxyEvent, context: Context) => {
  logger.addContext(context);
  try {
    return await handleRequest(event);
  } finally {
    metrics.publishStoredMetrics();
  }
};
