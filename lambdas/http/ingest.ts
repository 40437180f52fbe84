import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { InvalidRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from '#core/errors.ts';
import type { IngestRequest, IngestResult } from '#core/ingest.ts';
import { LIMITS } from '#core/schema.ts';
import type { TenantsConfig } from '#core/tenancy.ts';
import { authorize, callerIdentity, header } from './identity.ts';
import { json, toErrorResponse } from './responses.ts';
import { parseJsonStrict } from './strict-json.ts';

export interface IngestHandlerDeps {
  readonly ingest: (request: IngestRequest) => Promise<IngestResult>;
  readonly tenants: TenantsConfig;
  /** Called with the outcome of each request (metrics and logs live in the entry point). */
  readonly observe?: (outcome: {
    status: number;
    accepted: number;
    appended: number;
    error?: unknown;
  }) => void;
}

/** POST /v1/events: API Gateway event in, receipts out. */
export function createIngestHandler(deps: IngestHandlerDeps) {
  return async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    try {
      const identity = callerIdentity(event);
      const caller = authorize(deps.tenants, identity, ['writer']);
      const body = parseBody(event);
      const receivedAt = new Date(event.requestContext.requestTimeEpoch || Date.now());
      const result = await deps.ingest({ caller, identity, receivedAt, body });
      const status = result.status === 'created' ? 201 : 200;
      deps.observe?.({ status, accepted: result.receipts.length, appended: result.appended });
      return json(status, { receipts: result.receipts });
    } catch (error) {
      const response = toErrorResponse(error, event.requestContext.requestId);
      deps.observe?.({ status: response.statusCode, accepted: 0, appended: 0, error });
      return response;
    }
  };
}

function parseBody(event: APIGatewayProxyEvent): unknown {
  const contentType = header(event, 'content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(contentType)) {
    throw new UnsupportedMediaTypeError(
      `content-type must be application/json, got ${contentType || 'none'}`,
    );
  }
  if (event.body === null || event.body === '')
    throw new InvalidRequestError('the body is empty; send {"events": [...]}');
  const text = event.isBase64Encoded ? decodeBase64Utf8(event.body) : event.body;
  if (Buffer.byteLength(text, 'utf8') > LIMITS.maxBodyBytes) {
    throw new PayloadTooLargeError(`the body exceeds ${LIMITS.maxBodyBytes} bytes; send smaller batches`);
  }
  return parseJsonStrict(text);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A lenient decode would sign U+FFFD where the client sent other bytes: refuse bodies that are not UTF-8. */
function decodeBase64Utf8(body: string): string {
  try {
    return utf8.decode(Buffer.from(body, 'base64'));
  } catch {
    throw new InvalidRequestError('the body is not valid UTF-8 (RFC 8259 §8.1)');
  }
}
