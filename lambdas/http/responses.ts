import type { APIGatewayProxyResult } from 'aws-lambda';
import {
  AuditTrailError,
  ContentionError,
  EventConflictError,
  ForbiddenError,
  IntegrityError,
  InvalidEventsError,
  InvalidRequestError,
  NotFoundError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
} from '#core/errors.ts';

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

export const json = (
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyResult => ({
  statusCode,
  headers: { ...JSON_HEADERS, ...headers },
  body: JSON.stringify(body),
});

/** The error body every failure shares: `{"error": {"code", "message", ...details}}`. */
export const errorResponse = (
  statusCode: number,
  code: string,
  message: string,
  details: Record<string, unknown> = {},
  headers: Record<string, string> = {},
) => json(statusCode, { error: { code, message, ...details } }, headers);

/** AWS throttling shows up under these error names; none of them means the request was wrong. */
const THROTTLING = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'TooManyRequestsException',
]);

const STATUS: ReadonlyArray<[abstract new (...args: never[]) => AuditTrailError, number]> = [
  [InvalidRequestError, 400],
  [InvalidEventsError, 400],
  [ForbiddenError, 403],
  [NotFoundError, 404],
  [EventConflictError, 409],
  [PayloadTooLargeError, 413],
  [UnsupportedMediaTypeError, 415],
  [ContentionError, 503],
  [IntegrityError, 500],
];

/** Maps any error to the API's JSON error response; unknown errors become a 500 with no internals. */
export function toErrorResponse(error: unknown, requestId: string): APIGatewayProxyResult {
  if (error instanceof AuditTrailError) {
    const status = STATUS.find(([type]) => error instanceof type)?.[1] ?? 500;
    const details: Record<string, unknown> = {};
    if (error instanceof InvalidEventsError) details.issues = error.issues;
    if (error instanceof EventConflictError) details.eventIds = error.eventIds;
    if (error instanceof IntegrityError && error.position) details.position = error.position;
    const headers: Record<string, string> =
      error instanceof ContentionError ? { 'retry-after': String(error.retryAfterSeconds) } : {};
    return errorResponse(status, error.code, error.message, details, headers);
  }
  if (error instanceof Error && THROTTLING.has(error.name)) {
    return errorResponse(
      429,
      'throttled',
      'the service is busy; retry after the delay',
      {},
      { 'retry-after': '1' },
    );
  }
  return errorResponse(500, 'internal_error', `internal error; quote request id ${requestId}`, { requestId });
}
