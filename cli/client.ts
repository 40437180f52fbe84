import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { z } from 'zod';
import { SignedCheckpoint } from '#core/checkpoint.ts';
import type { Receipt } from '#core/receipt.ts';
import type { EventIssue } from '#core/schema.ts';
import type { PublicKeyInfo } from '#core/signer.ts';
import type { AppendWithLeavesJson } from '#core/wire.ts';
import { type BatchLimits, DEFAULT_BATCH_LIMITS, planBatches, validateEvents } from './input.ts';
import { backoffDelay, DEFAULT_RETRY, parseRetryAfter, type RetryPolicy } from './retry.ts';

/**
 * A typed client for the audit trail's HTTP API v1, for tools written in TypeScript and for the CLI:
 *
 *   import { AuditClient } from 'audit-trail/cli/client.ts';
 *   const client = new AuditClient({ endpoint: 'https://…/prod', region: 'eu-west-1' });
 *   const receipts = await client.send(events);
 *
 * Requests are SigV4-signed (service `execute-api`) with the default AWS credential chain unless
 * credentials are given. Throttling (429), 5xx and network errors are retried with backoff and jitter,
 * honouring Retry-After: safe for POST too, since event ids are idempotency keys.
 */

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}
export type CredentialsProvider = () => Promise<AwsCredentials>;

export interface AuditClientOptions {
  /** Base URL of the API, stage path included (`https://abc.execute-api.eu-west-1.amazonaws.com/prod`). */
  readonly endpoint: string;
  readonly region: string;
  /** @default - the AWS SDK's default credential chain (env, profile, SSO, container, instance) */
  readonly credentials?: AwsCredentials | CredentialsProvider;
  /** @default - 8 attempts, 200 ms base, 20 s cap */
  readonly retry?: Partial<RetryPolicy>;
  /** @default - the write path's documented limits (98 events, 3.5 MB of records, 5 MiB body) */
  readonly batchLimits?: Partial<BatchLimits>;
  /** Per request. @default 30000 (API Gateway gives up at 29 s) */
  readonly timeoutMs?: number;
  /** Appends per page when reading a log. @default 10 */
  readonly appendsPageSize?: number;
  /** Called before each retry, e.g. to tell a person why it is slow. */
  readonly onRetry?: (info: RetryInfo) => void;
}

export interface RetryInfo {
  readonly method: string;
  readonly path: string;
  readonly attempt: number;
  readonly delayMs: number;
  readonly reason: string;
}

/** An API answer other than success, or a network failure (status 0) after all retries. */
export class AuditApiError extends Error {
  override readonly name = 'AuditApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues?: readonly EventIssue[],
    readonly details: {
      readonly requestId?: string;
      readonly retryAfterMs?: number;
      readonly eventIds?: readonly string[];
      /** With `integrity_error`: the log position the server found inconsistent. */
      readonly position?: { readonly origin: string; readonly leafIndex?: number; readonly eventId?: string };
    } = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** `send` found invalid events before sending anything. */
export class EventValidationError extends Error {
  override readonly name = 'EventValidationError';
  constructor(readonly issues: readonly EventIssue[]) {
    const first = issues[0];
    super(
      `${issues.length} problem${issues.length === 1 ? '' : 's'} in the events; first: event ${first?.index} ${first?.path ? `field ${first.path}` : ''}: ${first?.message}`,
    );
  }
}

export interface LogSummary {
  readonly origin: string;
  readonly size: number;
  readonly checkpoint: SignedCheckpoint | null;
}

export interface EventsQuery {
  readonly from?: string;
  readonly to?: string;
  readonly actor?: string;
  readonly action?: string;
  readonly resource?: string;
  readonly outcome?: string;
  /** Page size, 1 to 100. */
  readonly limit?: number;
  readonly cursor?: string;
}

export interface EventsPage {
  readonly events: Record<string, unknown>[];
  readonly nextCursor: string | null;
}

export interface BatchResult {
  /** [start, end) indices of the input events this request carried. */
  readonly range: readonly [number, number];
  /** 201 if any event was new, 200 if all were already recorded. */
  readonly status: number;
  readonly receipts: Receipt[];
}

const LogSummarySchema = z.object({
  origin: z.string(),
  size: z.number().int().nonnegative(),
  checkpoint: SignedCheckpoint.nullable(),
});
const LogsResponse = z.object({ logs: z.array(LogSummarySchema) });
const EventsResponse = z.object({
  events: z.array(z.record(z.string(), z.unknown())),
  nextCursor: z.string().nullable(),
});
const AppendsResponse = z.object({
  appends: z.array(z.unknown()),
  next: z.number().int().nonnegative().nullable(),
});
const ReceiptsResponse = z.object({ receipts: z.array(z.object({ eventId: z.string() }).passthrough()) });
const EventResponse = z.object({ event: z.record(z.string(), z.unknown()), receipt: z.unknown() });
const KeysResponse = z.object({
  keys: z.array(
    z.object({ keyId: z.string(), algorithm: SignedCheckpoint.shape.algorithm, publicKeyPem: z.string() }),
  ),
});

/** Error codes that retrying cannot change (a stored inconsistency is not a transient fault). */
const PERMANENT_CODES = new Set(['integrity_error']);
const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

interface Call {
  readonly method: 'GET' | 'POST';
  /** Path under the endpoint, each segment already percent-encoded. */
  readonly path: string;
  readonly query?: Record<string, string>;
  readonly body?: string;
}

/** RFC 3986 percent-encoding, as SigV4's canonical form expects on the wire. */
export const uriEncode = (text: string) =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export class AuditClient {
  private readonly base: URL;
  private readonly retry: RetryPolicy;
  private readonly limits: BatchLimits;
  private readonly signer: SignatureV4;
  private readonly timeoutMs: number;
  private readonly userAgent = `audit-trail-cli node/${process.versions.node}`;

  constructor(private readonly options: AuditClientOptions) {
    this.base = parseEndpoint(options.endpoint);
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.limits = { ...DEFAULT_BATCH_LIMITS, ...options.batchLimits };
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.signer = new SignatureV4({
      service: 'execute-api',
      region: options.region,
      credentials: resolveCredentials(options.credentials),
      sha256: Sha256,
    });
  }

  /**
   * Records events: validates them all first (nothing is sent if any is invalid), sends them in batches
   * that fit the write path, and returns one receipt per event in input order. `onBatch` sees each batch's
   * receipts as they arrive, so a caller can keep them even if a later batch fails.
   */
  async send(
    events: readonly unknown[],
    options: { onBatch?: (batch: BatchResult) => void | Promise<void> } = {},
  ): Promise<Receipt[]> {
    const issues = validateEvents(events);
    if (issues.length > 0) throw new EventValidationError(issues);
    const receipts: Receipt[] = [];
    for (const [start, end] of planBatches(events, this.limits)) {
      const batch = events.slice(start, end);
      const result = await this.postEvents(batch);
      checkReceiptsMatch(batch, result.receipts);
      receipts.push(...result.receipts);
      await options.onBatch?.({ range: [start, end], ...result });
    }
    return receipts;
  }

  /** One POST /v1/events with retries; the batch must already fit the limits. */
  async postEvents(events: readonly unknown[]): Promise<{ status: number; receipts: Receipt[] }> {
    const response = await this.call({
      method: 'POST',
      path: '/v1/events',
      body: JSON.stringify({ events }),
    });
    const parsed = parseBody(response, ReceiptsResponse);
    return { status: response.status, receipts: parsed.receipts as unknown as Receipt[] };
  }

  /** GET /v1/events/{id}: the stored record and its receipt. */
  async getEvent(id: string): Promise<{ event: Record<string, unknown>; receipt: Receipt }> {
    const parsed = parseBody(
      await this.call({ method: 'GET', path: `/v1/events/${uriEncode(id)}` }),
      EventResponse,
    );
    return { event: parsed.event, receipt: parsed.receipt as Receipt };
  }

  /** GET /v1/events, page by page (newest first) until the last page. */
  async *listEvents(query: EventsQuery = {}): AsyncGenerator<EventsPage> {
    const seen = new Set<string>();
    let cursor = query.cursor;
    do {
      const params = Object.fromEntries(
        Object.entries({ ...query, cursor, limit: query.limit ?? 100 })
          .filter(([, value]) => value !== undefined)
          .map(([key, value]) => [key, String(value)]),
      );
      const page = parseBody(
        await this.call({ method: 'GET', path: '/v1/events', query: params }),
        EventsResponse,
      );
      yield page;
      cursor = page.nextCursor ?? undefined;
      if (cursor !== undefined && seen.has(cursor)) {
        throw new AuditApiError(
          200,
          'invalid_response',
          'GET /v1/events returned a cursor it returned before (paging would loop)',
        );
      }
      if (cursor !== undefined) seen.add(cursor);
    } while (cursor !== undefined);
  }

  /** GET /v1/logs: every log of the caller's tenant with its latest signed checkpoint. */
  async listLogs(): Promise<LogSummary[]> {
    return parseBody(await this.call({ method: 'GET', path: '/v1/logs' }), LogsResponse).logs;
  }

  /** GET /v1/logs/{origin}/checkpoint. */
  async getCheckpoint(origin: string): Promise<LogSummary> {
    return parseBody(
      await this.call({ method: 'GET', path: `/v1/logs/${uriEncode(origin)}/checkpoint` }),
      LogSummarySchema,
    );
  }

  /**
   * The appends of a log in order from the append starting at `from`, with their leaves. Not validated
   * here: `LogVerifier` checks every field. The next page is fetched while the caller works on this one.
   */
  async *listAppends(origin: string, from = 0): AsyncGenerator<AppendWithLeavesJson> {
    let pending: Promise<{ appends: unknown[]; next: number | null }> | undefined = this.appendsPage(
      origin,
      from,
    );
    let at = from;
    while (pending) {
      const page: { appends: unknown[]; next: number | null } = await pending;
      if (page.next !== null && page.next <= at) {
        throw new AuditApiError(
          200,
          'invalid_response',
          `appends of ${origin}: next page ${page.next} does not advance past ${at}`,
        );
      }
      pending = page.next === null ? undefined : this.appendsPage(origin, page.next);
      // The prefetch may fail after the caller stopped iterating; it is awaited (and rethrown) if they continue.
      pending?.catch(() => undefined);
      at = page.next ?? at;
      for (const append of page.appends) yield append as AppendWithLeavesJson;
    }
  }

  /** GET /v1/public-keys: every key that ever signed a checkpoint. */
  async publicKeys(): Promise<PublicKeyInfo[]> {
    return parseBody(await this.call({ method: 'GET', path: '/v1/public-keys' }), KeysResponse).keys;
  }

  private async appendsPage(origin: string, from: number) {
    const query = { from: String(from), limit: String(this.options.appendsPageSize ?? 10) };
    return parseBody(
      await this.call({ method: 'GET', path: `/v1/logs/${uriEncode(origin)}/appends`, query }),
      AppendsResponse,
    );
  }

  /** One API call: signed afresh for each attempt (the date is part of the signature), retried when safe. */
  private async call(call: Call): Promise<HttpResponse> {
    for (let attempt = 1; ; attempt++) {
      let outcome: HttpResponse | Error;
      try {
        outcome = await this.once(call);
      } catch (error) {
        outcome = error instanceof Error ? error : new Error(String(error));
      }
      if (!(outcome instanceof Error) && outcome.status >= 200 && outcome.status < 300) return outcome;
      const failure = outcome instanceof Error ? networkError(call, outcome) : apiError(outcome);
      if (!isRetryable(failure) || attempt >= this.retry.maxAttempts) throw failure;
      const delayMs = backoffDelay(this.retry, attempt, failure.details.retryAfterMs);
      this.options.onRetry?.({
        method: call.method,
        path: call.path,
        attempt,
        delayMs,
        reason: `${failure.status || ''} ${failure.message}`.trim(),
      });
      await this.retry.sleep(delayMs);
    }
  }

  private async once(call: Call): Promise<HttpResponse> {
    const path = `${this.base.pathname.replace(/\/$/, '')}${call.path}`;
    const body = call.body ?? '';
    const headers: Record<string, string> = { host: this.base.host, accept: 'application/json' };
    if (call.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const signed = await this.signer.sign({
      method: call.method,
      protocol: this.base.protocol,
      hostname: this.base.hostname,
      ...(this.base.port ? { port: Number(this.base.port) } : {}),
      path,
      query: call.query ?? {},
      headers,
      ...(call.body !== undefined ? { body } : {}),
    });
    const query = Object.entries(call.query ?? {})
      .map(([key, value]) => `${uriEncode(key)}=${uriEncode(value)}`)
      .join('&');
    return send(
      this.base,
      `${path}${query ? `?${query}` : ''}`,
      call.method,
      { ...signed.headers, 'user-agent': this.userAgent },
      body,
      this.timeoutMs,
    );
  }
}

function parseEndpoint(endpoint: string): URL {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new TypeError(`endpoint ${endpoint} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new TypeError(`endpoint ${endpoint} must be http(s)`);
  if (url.search || url.hash) throw new TypeError(`endpoint ${endpoint} must not have a query or fragment`);
  return url;
}

function resolveCredentials(
  credentials: AuditClientOptions['credentials'],
): CredentialsProvider | AwsCredentials {
  if (credentials) return credentials;
  let chain: CredentialsProvider | undefined;
  // Loaded on first use: offline commands never pay for the SDK's credential chain.
  return async () => {
    if (!chain) {
      const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
      chain = fromNodeProviderChain();
    }
    return chain();
  };
}

function send(
  base: URL,
  pathAndQuery: string,
  method: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
) {
  return new Promise<HttpResponse>((resolve, reject) => {
    const request = (base.protocol === 'https:' ? httpsRequest : httpRequest)(
      {
        protocol: base.protocol,
        hostname: base.hostname,
        port: base.port || undefined,
        method,
        path: pathAndQuery,
        headers,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        response.on('error', reject);
      },
    );
    request.setTimeout(timeoutMs, () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end(body);
  });
}

function networkError(call: Call, error: Error): AuditApiError {
  const code = (error as NodeJS.ErrnoException).code;
  return new AuditApiError(
    0,
    'network_error',
    `${call.method} ${call.path}: ${code ? `${code} ` : ''}${error.message}`,
    undefined,
    {},
    { cause: error },
  );
}

/** The API's `{"error": {code, message, issues}}`; API Gateway's own `{"message"}` errors; anything else. */
function apiError(response: HttpResponse): AuditApiError {
  let body: {
    error?: {
      code?: unknown;
      message?: unknown;
      issues?: unknown;
      eventIds?: unknown;
      requestId?: unknown;
      position?: unknown;
    };
    message?: unknown;
  } = {};
  try {
    body = JSON.parse(response.body);
  } catch {
    body = { message: response.body.slice(0, 200) };
  }
  const errorType = String(response.headers['x-amzn-errortype'] ?? '').split(':')[0];
  const code =
    typeof body.error?.code === 'string' ? body.error.code : errorType || `http_${response.status}`;
  const message =
    typeof body.error?.message === 'string'
      ? body.error.message
      : typeof body.message === 'string' && body.message !== ''
        ? body.message
        : `HTTP ${response.status}`;
  const issues = Array.isArray(body.error?.issues) ? (body.error.issues as EventIssue[]) : undefined;
  const retryAfterMs = parseRetryAfter(headerValue(response.headers['retry-after']));
  const requestId =
    headerValue(response.headers['x-amzn-requestid']) ??
    (typeof body.error?.requestId === 'string' ? body.error.requestId : undefined);
  return new AuditApiError(response.status, code, message, issues, {
    ...(requestId ? { requestId } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    ...(Array.isArray(body.error?.eventIds) ? { eventIds: body.error.eventIds as string[] } : {}),
    ...(isPosition(body.error?.position) ? { position: body.error.position } : {}),
  });
}

function isPosition(value: unknown): value is { origin: string; leafIndex?: number; eventId?: string } {
  if (typeof value !== 'object' || value === null) return false;
  const { origin, leafIndex } = value as { origin?: unknown; leafIndex?: unknown };
  return typeof origin === 'string' && (leafIndex === undefined || Number.isSafeInteger(leafIndex));
}

const headerValue = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

function isRetryable(error: AuditApiError): boolean {
  if (error.status === 0) return true;
  return RETRYABLE_STATUS.has(error.status) && !PERMANENT_CODES.has(error.code);
}

function parseBody<T>(response: HttpResponse, schema: z.ZodType<T>): T {
  let json: unknown;
  try {
    json = JSON.parse(response.body);
  } catch {
    throw new AuditApiError(
      response.status,
      'invalid_response',
      'the API answered with something that is not JSON',
    );
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new AuditApiError(
      response.status,
      'invalid_response',
      `unexpected response shape: ${parsed.error.issues[0]?.message ?? ''}`,
    );
  }
  return parsed.data;
}

/**
 * Receipts come back in input order; a mismatch would pair an event with another event's proof. The API
 * stores UUIDs in lower case (they compare case-insensitively), so an upper-case id is still a match.
 */
function checkReceiptsMatch(batch: readonly unknown[], receipts: readonly Receipt[]): void {
  const idOf = (event: unknown) => String((event as { id?: unknown }).id).toLowerCase();
  const mismatch = batch.findIndex((event, i) => idOf(event) !== receipts[i]?.eventId);
  if (receipts.length !== batch.length || mismatch >= 0) {
    throw new AuditApiError(
      200,
      'invalid_response',
      `the API returned ${receipts.length} receipts for ${batch.length} events, or out of order`,
    );
  }
}
