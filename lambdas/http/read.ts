import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { z } from 'zod';
import { API_ROUTES } from '#core/api-routes.ts';
import { InvalidRequestError, NotFoundError } from '#core/errors.ts';
import { toHex } from '#core/merkle.ts';
import type { LedgerStore, StoredEvent } from '#core/ports.ts';
import { rebuildReceipts } from '#core/receipts.ts';
import { Outcome } from '#core/schema.ts';
import { type Caller, logOrigin, type TenantsConfig } from '#core/tenancy.ts';
import { appendToJson, type LeafJson } from '#core/wire.ts';
import { authorize, callerIdentity } from './identity.ts';
import { errorResponse, json, toErrorResponse } from './responses.ts';

export interface ReadHandlerDeps {
  readonly store: LedgerStore;
  readonly tenants: TenantsConfig;
  readonly deploymentOrigin: string;
  /** The OpenAPI document served at GET /v1/openapi.json. */
  readonly openApi?: () => unknown;
}

const Time = z.iso.datetime({ offset: true, error: 'must be an RFC 3339 date-time' });

const EventsQuery = z
  .strictObject({
    from: Time.optional(),
    to: Time.optional(),
    actor: z.string().min(1).max(256).optional(),
    action: z.string().min(1).max(128).optional(),
    resource: z.string().min(1).max(2048).optional(),
    outcome: Outcome.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(50),
    cursor: z.string().min(1).max(4096).optional(),
  })
  // DynamoDB refuses a BETWEEN whose lower bound exceeds the upper one: answer 400, not 500.
  .refine((query) => !query.from || !query.to || Date.parse(query.from) <= Date.parse(query.to), {
    message: 'must not be after to',
    path: ['from'],
  });

const AppendsQuery = z.strictObject({
  from: z.coerce.number().int().nonnegative().default(0),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

type Route = (event: APIGatewayProxyEvent, caller: Caller) => Promise<APIGatewayProxyResult>;

/** All GET routes of the API v1 (reader and auditor roles). */
export function createReadHandler(deps: ReadHandlerDeps) {
  const { store } = deps;

  const tenantOrigin = (caller: Caller, encoded: string | undefined) => {
    let origin: string;
    try {
      origin = decodeURIComponent(encoded ?? '');
    } catch {
      // Malformed percent-encoding names no log; it must not surface as a 500.
      throw new NotFoundError(`no log ${encoded} for tenant ${caller.tenant}`);
    }
    const prefix = `${deps.deploymentOrigin}/${caller.tenant}/`;
    // Another tenant's log is reported as absent, not forbidden: its existence is not the caller's business.
    if (!origin.startsWith(prefix)) throw new NotFoundError(`no log ${origin} for tenant ${caller.tenant}`);
    return origin;
  };

  const routes: Record<string, Route> = {
    'GET /v1/events/{id}': async (event, caller) => {
      // Event ids are stored in lowercase (the schema normalises UUIDs); accept any spelling here too.
      const id = (event.pathParameters?.id ?? '').toLowerCase();
      const stored = (await store.getEvents(caller.tenant, [id])).get(id);
      if (!stored) throw new NotFoundError(`no event ${id}`);
      const receipt = (await rebuildReceipts(store, [stored])).get(id);
      return json(200, { event: JSON.parse(stored.record), receipt });
    },
    'GET /v1/events': async (event, caller) => {
      const query = parseQuery(EventsQuery, event);
      const page = await store.queryEvents({ tenant: caller.tenant, ...query });
      return json(200, {
        events: page.events.map((stored) => JSON.parse(stored.record)),
        nextCursor: page.cursor ?? null,
      });
    },
    'GET /v1/logs': async (_event, caller) => {
      const heads = await Promise.all(
        Array.from({ length: caller.shards }, (_, shard) =>
          store.readHead(logOrigin(deps.deploymentOrigin, caller.tenant, shard)),
        ),
      );
      return json(200, {
        logs: heads.map((head) => ({ origin: head.origin, size: head.size, checkpoint: head.checkpoint })),
      });
    },
    'GET /v1/logs/{origin}/checkpoint': async (event, caller) => {
      const head = await store.readHead(tenantOrigin(caller, event.pathParameters?.origin));
      if (!head.checkpoint) throw new NotFoundError(`log ${head.origin} has no checkpoint yet`);
      return json(200, { origin: head.origin, size: head.size, checkpoint: head.checkpoint });
    },
    'GET /v1/logs/{origin}/appends': async (event, caller) => {
      const origin = tenantOrigin(caller, event.pathParameters?.origin);
      const query = parseQuery(AppendsQuery, event);
      const page = await store.listAppends(origin, query.from, query.limit);
      const records = await store.getEvents(
        caller.tenant,
        page.appends.flatMap((append) => append.eventIds),
      );
      const appends = page.appends.map((append) => ({
        ...appendToJson(append),
        leaves: append.eventIds.flatMap((id): LeafJson[] => {
          const stored = records.get(id);
          const leaf = stored && leafJson(stored);
          return leaf ? [leaf] : [];
        }),
      }));
      return json(200, { appends, next: page.next ?? null });
    },
    'GET /v1/public-keys': async () => json(200, { keys: await store.listKeys() }),
    'GET /v1/openapi.json': async () => json(200, deps.openApi?.() ?? {}),
  };

  return async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    try {
      const key = `${event.httpMethod} ${event.resource}`;
      const route = routes[key];
      const definition = API_ROUTES.find((candidate) => `${candidate.method} ${candidate.resource}` === key);
      if (!route || !definition) return errorResponse(404, 'not_found', `no route ${key}`);
      const caller = authorize(deps.tenants, callerIdentity(event), definition.roles);
      return await route(event, caller);
    } catch (error) {
      if (error instanceof Error && error.name === 'InvalidCursorError') {
        return errorResponse(400, 'invalid_cursor', error.message);
      }
      return toErrorResponse(error, event.requestContext.requestId);
    }
  };
}

/**
 * A stored record that is not a JSON object (damaged in the table) is left out like a deleted one, so the
 * verifier names its leaf and event instead of the whole page failing with a 500.
 */
function leafJson(stored: StoredEvent): LeafJson | undefined {
  let record: unknown;
  try {
    record = JSON.parse(stored.record);
  } catch {
    return undefined;
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return undefined;
  const { leafIndex, eventId } = stored;
  return { leafIndex, eventId, leafHash: toHex(stored.leafHash), record: record as Record<string, unknown> };
}

function parseQuery<T extends z.ZodType>(schema: T, event: APIGatewayProxyEvent): z.infer<T> {
  const result = schema.safeParse(event.queryStringParameters ?? {});
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue?.code === 'unrecognized_keys' ? issue.keys[0] : issue?.path.join('.');
    throw new InvalidRequestError(
      `query parameter ${field}: ${issue?.code === 'unrecognized_keys' ? 'is not known' : issue?.message}`,
    );
  }
  return result.data;
}
