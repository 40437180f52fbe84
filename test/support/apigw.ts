import { readFileSync } from 'node:fs';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';

/** The captured API Gateway REST (v1 payload, AWS_IAM) request shared by all engineers. */
const FIXTURE_PATH = new URL('../fixtures/apigw-rest-iam-auth.json', import.meta.url);
const fixture = JSON.parse(readFileSync(FIXTURE_PATH, 'utf8')) as APIGatewayProxyEvent;

export interface ApiRequest {
  readonly method: 'GET' | 'POST';
  /** API Gateway resource, e.g. `/v1/events/{id}`. */
  readonly resource: string;
  /** Caller principal as the IAM authorizer reports it (`requestContext.identity.userArn`). */
  readonly principalArn: string;
  readonly pathParameters?: Record<string, string>;
  readonly query?: Record<string, string>;
  readonly body?: string | null;
  readonly contentType?: string | null;
  readonly requestTimeEpoch?: number;
}

/** An API Gateway event built from the real fixture, with body, headers, route and caller replaced. */
export function apiEvent(request: ApiRequest): APIGatewayProxyEvent {
  const event = structuredClone(fixture);
  const path = request.resource.replace(/\{(\w+)\}/g, (_, name: string) =>
    encodeURIComponent(request.pathParameters?.[name] ?? ''),
  );
  const headers: Record<string, string | undefined> = { ...event.headers };
  delete headers['Content-Type'];
  delete headers['content-type'];
  if (request.contentType !== null) headers['Content-Type'] = request.contentType ?? 'application/json';
  return {
    ...event,
    resource: request.resource,
    path,
    httpMethod: request.method,
    headers,
    multiValueHeaders: {},
    pathParameters: request.pathParameters ?? null,
    queryStringParameters: request.query ?? null,
    body: request.body ?? null,
    isBase64Encoded: false,
    requestContext: {
      ...event.requestContext,
      resourcePath: request.resource,
      httpMethod: request.method,
      path: `/prod${path}`,
      requestTimeEpoch: request.requestTimeEpoch ?? event.requestContext.requestTimeEpoch,
      identity: { ...event.requestContext.identity, userArn: request.principalArn },
    },
  };
}

/** A Lambda context good enough for Powertools' `logger.addContext`. */
export const lambdaContext = (functionName: string): Context =>
  ({
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/01/31/[$LATEST]abcdef',
    getRemainingTimeInMillis: () => 10_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  }) satisfies Context;

/** Parses a handler response body (loosely typed: tests assert on its shape). */
// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked by assertions, not by the compiler
export const responseBody = (response: { body: string }) => JSON.parse(response.body) as Record<string, any>;
