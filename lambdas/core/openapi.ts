import { z } from 'zod';
import { API_ROUTES, type ApiRoute } from './api-routes.ts';
import { SignedCheckpoint } from './checkpoint.ts';
import { Receipt } from './receipt.ts';
import { AuditEventInput, LIMITS } from './schema.ts';
import { AppendJson, LeafJson } from './wire.ts';

/**
 * The OpenAPI 3.0 document of API v1, generated from the same zod schemas the handlers validate with, so
 * the document, API Gateway's request model and the code cannot drift. `docs/openapi.json` is this output
 * (a test checks the committed copy is current).
 */
export const EventBatch = z.strictObject({
  events: z.array(AuditEventInput).min(1).max(LIMITS.maxBatchEvents),
});

const ErrorBody = z.strictObject({
  error: z.object({
    code: z
      .string()
      .meta({ description: 'stable machine-readable code, e.g. invalid_event, event_conflict, forbidden' }),
    message: z.string(),
    issues: z
      .array(z.strictObject({ index: z.number().int(), path: z.string(), message: z.string() }))
      .optional(),
    eventIds: z.array(z.string()).optional(),
    position: z
      .strictObject({
        origin: z.string(),
        leafIndex: z.number().int().optional(),
        eventId: z.string().optional(),
      })
      .optional()
      .meta({ description: 'with integrity_error: the log position found inconsistent' }),
  }),
});

const toSchema = (schema: z.ZodType) =>
  z.toJSONSchema(schema, { target: 'openapi-3.0', unrepresentable: 'any', io: 'input' });

const components = {
  AuditEventInput: toSchema(AuditEventInput),
  EventBatch: toSchema(EventBatch),
  Receipt: toSchema(Receipt),
  SignedCheckpoint: toSchema(SignedCheckpoint),
  Append: toSchema(AppendJson.extend({ leaves: z.array(LeafJson) })),
  Error: toSchema(ErrorBody),
};

const ref = (name: keyof typeof components) => ({ $ref: `#/components/schemas/${name}` });
const jsonContent = (schema: unknown) => ({ 'application/json': { schema } });
const errorResponse = (description: string) => ({ description, content: jsonContent(ref('Error')) });

const objectSchema = (properties: Record<string, unknown>) => ({ type: 'object', properties });
const OK_BODIES: Record<string, unknown> = {
  'POST /v1/events': objectSchema({ receipts: { type: 'array', items: ref('Receipt') } }),
  'GET /v1/events': objectSchema({
    events: { type: 'array', items: { type: 'object' } },
    nextCursor: { type: 'string', nullable: true },
  }),
  'GET /v1/events/{id}': objectSchema({ event: { type: 'object' }, receipt: ref('Receipt') }),
  'GET /v1/logs': objectSchema({
    logs: {
      type: 'array',
      items: objectSchema({
        origin: { type: 'string' },
        size: { type: 'integer' },
        checkpoint: ref('SignedCheckpoint'),
      }),
    },
  }),
  'GET /v1/logs/{origin}/checkpoint': objectSchema({
    origin: { type: 'string' },
    size: { type: 'integer' },
    checkpoint: ref('SignedCheckpoint'),
  }),
  'GET /v1/logs/{origin}/appends': objectSchema({
    appends: { type: 'array', items: ref('Append') },
    next: { type: 'integer', nullable: true },
  }),
  'GET /v1/public-keys': objectSchema({
    keys: {
      type: 'array',
      items: objectSchema({
        keyId: { type: 'string' },
        algorithm: { type: 'string' },
        publicKeyPem: { type: 'string' },
      }),
    },
  }),
  'GET /v1/openapi.json': { type: 'object' },
};

const QUERY_PARAMETERS: Record<string, string[]> = {
  'GET /v1/events': ['from', 'to', 'actor', 'action', 'resource', 'outcome', 'limit', 'cursor'],
  'GET /v1/logs/{origin}/appends': ['from', 'limit'],
};

function operation(route: ApiRoute) {
  const key = `${route.method} ${route.resource}`;
  const pathParameters = [...route.resource.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    schema: { type: 'string' },
    ...(name === 'origin' ? { description: 'log origin, URL-encoded' } : {}),
  }));
  const queryParameters = (QUERY_PARAMETERS[key] ?? []).map((name) => ({
    name,
    in: 'query',
    required: false,
    schema: { type: 'string' },
  }));
  return {
    operationId: key.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, ''),
    description: `Roles: ${route.roles.join(', ')}. Signed with AWS SigV4 (service execute-api).`,
    security: [{ sigv4: [] }],
    parameters: [...pathParameters, ...queryParameters],
    ...(route.method === 'POST'
      ? { requestBody: { required: true, content: jsonContent(ref('EventBatch')) } }
      : {}),
    responses: {
      [route.method === 'POST' ? '201' : '200']: {
        description: 'OK',
        content: jsonContent(OK_BODIES[key] ?? {}),
      },
      ...(route.method === 'POST'
        ? {
            '200': {
              description: 'every event was already recorded: the original receipts',
              content: jsonContent(OK_BODIES[key]),
            },
            '400': errorResponse('invalid request or event (nothing stored)'),
            '409': errorResponse('an event id was already used with other content'),
            '413': errorResponse(
              `too large: more than ${LIMITS.maxBatchEvents} events or ${LIMITS.maxBatchRecordBytes} bytes of records`,
            ),
            '415': errorResponse('not JSON'),
            '429': errorResponse('throttled; see Retry-After'),
            '503': errorResponse('log contention; see Retry-After'),
          }
        : { '400': errorResponse('invalid query'), '404': errorResponse('not found') }),
      '403': errorResponse('not signed, bad signature, or the caller lacks the role'),
    },
  };
}

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of API_ROUTES) {
    paths[route.resource] = { ...paths[route.resource], [route.method.toLowerCase()]: operation(route) };
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'Audit trail API',
      version: '1.0.0',
      description: `Tamper-evident audit trail. Batches hold 1 to ${LIMITS.maxBatchEvents} events; a record is at most ${LIMITS.maxRecordBytes} bytes.`,
    },
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        sigv4: {
          type: 'apiKey',
          name: 'Authorization',
          in: 'header',
          'x-amazon-apigateway-authtype': 'awsSigv4',
        },
      },
    },
  };
}

/**
 * The POST body model for API Gateway (JSON Schema draft 4), derived from the same envelope as EventBatch.
 * It checks only the envelope (an object with a non-empty `events` array of objects): each event is
 * validated by the handler so that a bad event gets `invalid_event` with its index and path, and an
 * oversized batch gets 413 — answers a generic gateway 400 could not give.
 */
export function eventBatchGatewayModel(): Record<string, unknown> {
  const envelope = z.strictObject({ events: z.array(z.looseObject({})).min(1) });
  const { $schema: _ignored, ...model } = z.toJSONSchema(envelope, {
    target: 'draft-4',
    io: 'input',
  }) as Record<string, unknown>;
  return model;
}
