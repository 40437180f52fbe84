import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { DynamoLedgerStore } from '#adapters/dynamo-ledger-store.ts';
import { ENV } from '#core/env-names.ts';
import { openApiDocument } from '#core/openapi.ts';
import { createReadHandler } from '../http/read.ts';
import { requireEnv, tenantsFromEnv } from './env.ts';
import { createLogger } from './logger.ts';

const logger = createLogger();

const handleRequest = createReadHandler({
  store: new DynamoLedgerStore(new DynamoDBClient({}), requireEnv(ENV.ledgerTable)),
  tenants: tenantsFromEnv(),
  deploymentOrigin: requireEnv(ENV.deploymentOrigin),
  openApi: openApiDocument,
});

/** All GET routes of the API (API Gateway REST, AWS_IAM). */
export const handler = async (event: APIGatewayProxyEvent, context: Context) => {
  logger.addContext(context);
  const response = await handleRequest(event);
  if (response.statusCode >= 500)
    logger.error('read failed', { resource: event.resource, body: response.body });
  return response;
};
