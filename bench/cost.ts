/**
 * AWS list prices used by the cost model: us-east-1, on-demand, without free tiers. Written down on
 * 2026-11-26 from the public pricing pages named beside each; prices change, so re-check them there.
 */
export const PRICES = {
  date: '2026-11-26',
  region: 'us-east-1',
  apiGatewayRestPerMillionRequests: 3.5, // aws.amazon.com/api-gateway/pricing (REST, first 333M)
  lambdaPerMillionRequests: 0.2, // aws.amazon.com/lambda/pricing
  lambdaArmPerGbSecond: 0.0000133334, // aws.amazon.com/lambda/pricing (Arm)
  kmsEccSignPer10k: 0.15, // aws.amazon.com/kms/pricing: asymmetric requests except RSA 2048
  kmsRsa2048SignPer10k: 0.03, // aws.amazon.com/kms/pricing: RSA 2048 asymmetric requests
  dynamoOnDemandPerMillionWrites: 0.625, // aws.amazon.com/dynamodb/pricing/on-demand (write request units)
  dynamoOnDemandPerMillionReads: 0.125, // same page (read request units)
  s3PutPer1000: 0.005, // aws.amazon.com/s3/pricing (S3 Standard PUT/COPY/POST/LIST)
  eventBridgeCustomPerMillion: 1.0, // aws.amazon.com/eventbridge/pricing (custom events)
} as const;

/** What the model assumes beyond the measured counts; each is stated in docs/BENCHMARKS.md. */
export const ASSUMPTIONS = {
  ingestMemoryGb: 1, // lib/constructs/audit-function.ts default memorySize 1024
  /** Waiting on the 4 sequential AWS calls of an append (BatchGetItem, Query, KMS Sign, TransactWriteItems). */
  ingestIoMsPerRequest: 40,
  /** Strongly consistent reads per request: one Query for the head; per event: one BatchGetItem item (≤ 4 KB). */
  readUnitsPerRequest: 1,
  readUnitsPerEvent: 1,
  /** The archiver's TTL update rewrites the ~1.3 KB record: 2 write units, per event. */
  ttlWriteUnitsPerEvent: 2,
  /** Stream consumers: archiver batches of up to 1000 records, alerter batches of 100; ~200 ms each at 1 GB. */
  consumerMsPerInvocation: 200,
  archiverRecordsPerInvocation: 1000,
  alerterRecordsPerInvocation: 100,
} as const;

export interface CostInputs {
  readonly batch: number;
  readonly signsPerEvent: number;
  readonly transactionWriteUnitsPerEvent: number;
  readonly indexWriteUnitsPerEvent: number;
  readonly ingestCpuMicrosPerEvent: number;
  readonly s3PutsPer1000Events: number;
  readonly keySpec: 'ECC_NIST_P256' | 'RSA_2048';
}

/** Dollars per million 1 KB events, by component, for one batch size and key type. */
export function costPerMillionEvents(input: CostInputs): Record<string, number> {
  const million = 1_000_000;
  const requests = million / input.batch;
  const ingestSeconds =
    requests * (ASSUMPTIONS.ingestIoMsPerRequest / 1000) + (million * input.ingestCpuMicrosPerEvent) / 1e6;
  const consumerInvocations =
    million / ASSUMPTIONS.archiverRecordsPerInvocation + million / ASSUMPTIONS.alerterRecordsPerInvocation;
  const signPrice = input.keySpec === 'RSA_2048' ? PRICES.kmsRsa2048SignPer10k : PRICES.kmsEccSignPer10k;
  const writeUnits =
    million *
    (input.transactionWriteUnitsPerEvent + input.indexWriteUnitsPerEvent + ASSUMPTIONS.ttlWriteUnitsPerEvent);
  const readUnits = requests * ASSUMPTIONS.readUnitsPerRequest + million * ASSUMPTIONS.readUnitsPerEvent;
  const parts = {
    apiGateway: (requests / million) * PRICES.apiGatewayRestPerMillionRequests,
    lambdaIngest:
      (requests / million) * PRICES.lambdaPerMillionRequests +
      ingestSeconds * ASSUMPTIONS.ingestMemoryGb * PRICES.lambdaArmPerGbSecond,
    lambdaConsumers:
      (consumerInvocations / million) * PRICES.lambdaPerMillionRequests +
      consumerInvocations * (ASSUMPTIONS.consumerMsPerInvocation / 1000) * PRICES.lambdaArmPerGbSecond,
    kms: ((million * input.signsPerEvent) / 10_000) * signPrice,
    dynamodb:
      (writeUnits / million) * PRICES.dynamoOnDemandPerMillionWrites +
      (readUnits / million) * PRICES.dynamoOnDemandPerMillionReads,
    s3Puts: (((million / 1000) * input.s3PutsPer1000Events) / 1000) * PRICES.s3PutPer1000,
    eventBridge: PRICES.eventBridgeCustomPerMillion,
  };
  const total = Object.values(parts).reduce((sum, value) => sum + value, 0);
  return Object.fromEntries(
    Object.entries({ ...parts, total }).map(([key, value]) => [key, Number(value.toFixed(4))]),
  );
}
