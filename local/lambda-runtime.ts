import { randomUUID } from 'node:crypto';
import type {
  APIGatewayProxyEvent,
  APIGatewayProxyResult,
  Context,
  DynamoDBBatchResponse,
  DynamoDBStreamEvent,
} from 'aws-lambda';

/**
 * The handler shapes the sandbox invokes: the same signatures as the deployed Lambda entry points, so
 * `local/wiring.ts` hands over the real handlers (and re-exports these types).
 */
export type ApiHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;
export type StreamHandler = (
  event: DynamoDBStreamEvent,
  context: Context,
  // biome-ignore lint/suspicious/noConfusingVoidType: a stream handler without partial failures returns nothing
) => Promise<DynamoDBBatchResponse | void>;

/** The local account id: what DynamoDB Local puts in its ARNs, and the sandbox principals' account. */
export const LOCAL_ACCOUNT_ID = '000000000000';

export interface LambdaContextOptions {
  readonly functionName: string;
  readonly region: string;
  /** The function timeout, for getRemainingTimeInMillis(). */
  readonly timeoutMs: number;
  /** @default 1024 */
  readonly memoryMb?: number;
}

/** A Lambda `Context` for one invocation, as the Node.js runtime builds it. */
export function lambdaContext(options: LambdaContextOptions): Context {
  const deadline = Date.now() + options.timeoutMs;
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  const deprecated = () => {
    throw new Error('context.done/fail/succeed are not supported: return or throw from an async handler');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: options.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${options.region}:${LOCAL_ACCOUNT_ID}:function:${options.functionName}`,
    memoryLimitInMB: String(options.memoryMb ?? 1024),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${options.functionName}`,
    logStreamName: `${day}/[$LATEST]${randomUUID().replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: deprecated,
    fail: deprecated,
    succeed: deprecated,
  };
}
