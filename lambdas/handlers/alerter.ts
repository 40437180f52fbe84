import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Context, DynamoDBStreamEvent } from 'aws-lambda';
import { appendFromItem, eventFromItem } from '#adapters/dynamo-ledger-store.ts';
import { EventBridgeBus } from '#adapters/eventbridge-bus.ts';
import { ENV } from '#core/env-names.ts';
import { createAlerter } from '../streams/alerter.ts';
import { requireEnv } from './env.ts';
import { createLogger } from './logger.ts';

const logger = createLogger();
const metrics = new Metrics();
const bus = new EventBridgeBus(new EventBridgeClient({}), requireEnv(ENV.eventBus));

const alerter = createAlerter({
  bus,
  codec: { eventFromItem, appendFromItem },
  log: logger,
  observe: (outcome) => {
    metrics.addMetric('AuditEventsPublished', MetricUnit.Count, outcome.published);
    metrics.addMetric('AlerterFailedRecords', MetricUnit.Count, outcome.failedRecords);
  },
});

/** Ledger table stream (NEW_IMAGE) -> `Audit Event Recorded` entries on the audit bus, where the alert rules match. */
export const handler = async (event: DynamoDBStreamEvent, context: Context) => {
  logger.addContext(context);
  try {
    return await alerter(event, context);
  } finally {
    metrics.publishStoredMetrics();
  }
};
