import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { API_ROUTES, type ApiRoute, type RouteTarget } from '#core/api-routes.ts';
import type { LocalCredential } from './credentials.ts';
import { type ApiHandler, LOCAL_ACCOUNT_ID, lambdaContext } from './lambda-runtime.ts';
import { percentDecode, verifySigV4 } from './sigv4.ts';

/** API Gateway's payload limit for REST APIs. */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;
/** API Gateway's maximum integration timeout for REST APIs. */
export const INTEGRATION_TIMEOUT_MS = 29_000;
export const DEFAULT_PORT = 4000;

export interface HttpServerOptions {
  /** Port on 127.0.0.1; 0 picks a free one. @default - PORT from the environment, else 4000 */
  readonly port?: number;
  readonly region: string;
  /** The access keys the server accepts, each with the principal it signs as. */
  readonly credentials: readonly LocalCredential[];
  readonly handlers: Record<RouteTarget, ApiHandler>;
  /** @default API_ROUTES */
  readonly routes?: readonly ApiRoute[];
  /** @default 'local' */
  readonly stage?: string;
  /** @default MAX_BODY_BYTES */
  readonly maxBodyBytes?: number;
  /** @default INTEGRATION_TIMEOUT_MS */
  readonly integrationTimeoutMs?: number;
  /** Called when a handler throws or returns a malformed response (API Gateway answers 502). */
  readonly onHandlerError?: (error: unknown, event: APIGatewayProxyEvent) => void;
}

export interface LocalHttpServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Stops accepting, closes open connections. Idempotent. */
  close(): Promise<void>;
}

/** PORT from the environment, else 4000; an explicit port (0 included) wins. */
export function resolvePort(explicit?: number, env: NodeJS.ProcessEnv = process.env): number {
  if (explicit !== undefined) return explicit;
  const fromEnv = env.PORT === undefined || env.PORT === '' ? Number.NaN : Number(env.PORT);
  if (Number.isInteger(fromEnv) && fromEnv >= 0 && fromEnv < 65536) return fromEnv;
  if (env.PORT) throw new Error(`PORT must be a port number, got '${env.PORT}'`);
  return DEFAULT_PORT;
}

/** Starts the sandbox's API: SigV4 check, routing, role check, then the route's Lambda handler. */
export async function startHttpServer(options: HttpServerOptions): Promise<LocalHttpServer> {
  const server = createServer((req, res) => {
    handleRequest(req, res, options).catch((error: unknown) => {
      // Only reached if writing the response itself failed; the client is gone or the socket broke.
      res.destroy(error instanceof Error ? error : new Error(String(error)));
    });
  });
  const port = await listen(server, resolvePort(options.port));
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closing;
  };
  return { url: `http://127.0.0.1:${port}`, port, close };
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(`port ${port} on 127.0.0.1 is in use: pass --port or set PORT to use another`, {
              cause: error,
            })
          : error,
      ),
    );
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

interface ErrorReply {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly headers?: Record<string, string>;
}

async function handleRequest(
  req: IncomingMessage,
  res: ServerResponse,
  options: HttpServerOptions,
): Promise<void> {
  const requestId = randomUUID();
  const receivedAt = Date.now();
  const limit = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const body = await readBody(req, limit);
  if (body === 'too_large') {
    const message = `Request Too Long: the body exceeds ${limit} bytes`;
    return sendError(res, requestId, { status: 413, code: 'payload_too_large', message });
  }
  const admitted = admit(req, body, options);
  if ('status' in admitted) return sendError(res, requestId, admitted);
  const event = buildProxyEvent({
    req,
    body,
    route: admitted.route,
    pathParameters: admitted.pathParameters,
    requestId,
    receivedAt,
    credential: admitted.credential,
    stage: options.stage ?? 'local',
  });
  await invoke(res, event, admitted.route.target, options, requestId);
}

type Admitted = Extract<RouteMatch, { kind: 'found' }> & { readonly credential: LocalCredential };

/** API Gateway's checks before the integration, in its order: signature, route, then the IAM policy. */
function admit(req: IncomingMessage, body: Buffer, options: HttpServerOptions): ErrorReply | Admitted {
  const url = req.url ?? '/';
  const method = req.method ?? 'GET';
  const auth = verifySigV4(
    { method, url, rawHeaders: req.rawHeaders, body },
    { region: options.region, lookup: (id) => options.credentials.find((c) => c.accessKeyId === id) },
  );
  if (!auth.ok) {
    const { code, message, errorType } = auth.failure;
    return { status: 403, code, message, headers: { 'x-amzn-ErrorType': errorType } };
  }
  const match = matchRoute(options.routes ?? API_ROUTES, method, url.split('?')[0]!);
  if (match.kind === 'not_found') return { status: 404, code: 'not_found', message: `No route for ${url}` };
  if (match.kind === 'method_not_allowed') {
    const allowed = match.allowed.join(', ');
    return {
      status: 405,
      code: 'method_not_allowed',
      message: `${method} is not allowed here; allowed: ${allowed}`,
      headers: { allow: allowed },
    };
  }
  const { principal } = auth.credential;
  if (!match.route.roles.includes(principal.role)) {
    // What IAM answers when the role's policy lacks execute-api:Invoke on this route.
    const resource = executeApiArn(options, match.route);
    return {
      status: 403,
      code: 'access_denied',
      message: `User: ${principal.sessionArn} is not authorized to perform: execute-api:Invoke on resource: ${resource}`,
      headers: { 'x-amzn-ErrorType': 'AccessDeniedException' },
    };
  }
  return { ...match, credential: auth.credential };
}

function executeApiArn(options: HttpServerOptions, route: ApiRoute): string {
  return `arn:aws:execute-api:${options.region}:${LOCAL_ACCOUNT_ID}:local/${options.stage ?? 'local'}/${route.method}${route.resource}`;
}

/** Reads the body, giving up at the limit: a declared Content-Length over it is refused before reading. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too_large'> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.resolve('too_large');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.pause();
        resolve('too_large');
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendError(res: ServerResponse, requestId: string, reply: ErrorReply): void {
  const body = JSON.stringify({ error: { code: reply.code, message: reply.message } });
  res.writeHead(reply.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-amzn-RequestId': requestId,
    // A 413 leaves the rest of the body unread: close rather than parse it as the next request.
    ...(reply.status === 413 ? { connection: 'close' } : {}),
    ...reply.headers,
  });
  res.end(body);
}

export type RouteMatch =
  | {
      readonly kind: 'found';
      readonly route: ApiRoute;
      readonly pathParameters: Record<string, string> | null;
    }
  | { readonly kind: 'method_not_allowed'; readonly allowed: readonly string[] }
  | { readonly kind: 'not_found' };

/**
 * Matches the raw (still percent-encoded) path against the route table, segment by segment, so an
 * encoded slash (`%2F`) stays inside its segment. Parameters are then decoded once, as API Gateway does.
 */
export function matchRoute(routes: readonly ApiRoute[], method: string, rawPath: string): RouteMatch {
  const segments = rawPath.split('/').slice(1);
  const candidates = routes
    .map((route) => ({ route, pathParameters: matchResource(route.resource, segments) }))
    .filter((candidate) => candidate.pathParameters !== undefined);
  if (candidates.length === 0) return { kind: 'not_found' };
  const hit = candidates.find((candidate) => candidate.route.method === method);
  if (!hit)
    return { kind: 'method_not_allowed', allowed: [...new Set(candidates.map((c) => c.route.method))] };
  return { kind: 'found', route: hit.route, pathParameters: hit.pathParameters ?? null };
}

/** Parameters of a match (null when the resource has none), undefined when the path does not match. */
function matchResource(
  resource: string,
  segments: readonly string[],
): Record<string, string> | null | undefined {
  const pattern = resource.split('/').slice(1);
  if (pattern.length !== segments.length) return undefined;
  const parameters: Record<string, string> = {};
  for (const [i, part] of pattern.entries()) {
    const segment = segments[i]!;
    const name = /^\{(\w+)\}$/.exec(part)?.[1];
    if (name !== undefined && segment !== '') parameters[name] = percentDecode(segment);
    else if (part !== segment) return undefined;
  }
  return Object.keys(parameters).length > 0 ? parameters : null;
}

export interface EventInput {
  readonly req: IncomingMessage;
  readonly body: Buffer;
  readonly route: ApiRoute;
  readonly pathParameters: Record<string, string> | null;
  readonly requestId: string;
  readonly receivedAt: number;
  /** The verified caller. */
  readonly credential: LocalCredential;
  readonly stage: string;
}

/**
 * The REST API (v1 payload) proxy event, shaped like test fixture apigw-rest-iam-auth.json. `path` stays
 * percent-encoded (REST APIs pass it so); query names and values are decoded once.
 */
export function buildProxyEvent(input: EventInput): APIGatewayProxyEvent {
  const { req, route, stage } = input;
  const [path = '/', query] = splitOnce(req.url ?? '/', '?');
  const { headers, multiValueHeaders } = eventHeaders(req);
  const { single, multi } = queryParameters(query);
  const host = headers.Host ?? headers.host ?? '127.0.0.1';
  // deploymentId is in real events (see the fixture) but not in @types/aws-lambda.
  const requestContext: APIGatewayProxyEvent['requestContext'] & { deploymentId: string } = {
    resourceId: createHash('sha256').update(route.resource).digest('hex').slice(0, 6),
    resourcePath: route.resource,
    httpMethod: route.method,
    extendedRequestId: randomBytes(12).toString('base64'),
    requestTime: clfDate(input.receivedAt),
    path: `/${stage}${path}`,
    accountId: LOCAL_ACCOUNT_ID,
    protocol: `HTTP/${req.httpVersion}`,
    stage,
    domainPrefix: host.split('.')[0],
    requestTimeEpoch: input.receivedAt,
    requestId: input.requestId,
    identity: callerIdentity(req, input.credential),
    domainName: host,
    deploymentId: 'local',
    apiId: 'local',
    authorizer: undefined,
  };
  return {
    resource: route.resource,
    path,
    httpMethod: route.method,
    headers,
    multiValueHeaders,
    queryStringParameters: single,
    multiValueQueryStringParameters: multi,
    pathParameters: input.pathParameters,
    stageVariables: null,
    requestContext,
    body: input.body.length > 0 ? input.body.toString('utf8') : null,
    isBase64Encoded: false,
  };
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

/** Headers as sent (original case): `headers` keeps the last value of a repeated header, like API Gateway. */
function eventHeaders(req: IncomingMessage): Pick<APIGatewayProxyEvent, 'headers' | 'multiValueHeaders'> {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  const add = (name: string, value: string) => {
    const key = Object.keys(multiValueHeaders).find((k) => k.toLowerCase() === name.toLowerCase()) ?? name;
    headers[key] = value;
    multiValueHeaders[key] = [...(multiValueHeaders[key] ?? []), value];
  };
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) add(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  const sourceIp = clientIp(req);
  const forwarded = headers['X-Forwarded-For'] ?? headers['x-forwarded-for'];
  add('X-Forwarded-For', forwarded ? `${forwarded}, ${sourceIp}` : sourceIp);
  add('X-Forwarded-Port', String(req.socket.localPort ?? ''));
  add('X-Forwarded-Proto', 'http');
  add('X-Amzn-Trace-Id', traceId());
  return { headers, multiValueHeaders };
}

function queryParameters(query: string | undefined): {
  single: Record<string, string> | null;
  multi: Record<string, string[]> | null;
} {
  const pieces = (query ?? '').split('&').filter((piece) => piece !== '');
  if (pieces.length === 0) return { single: null, multi: null };
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const piece of pieces) {
    const [name, value = ''] = splitOnce(piece, '=');
    const key = percentDecode(name);
    single[key] = percentDecode(value);
    multi[key] = [...(multi[key] ?? []), percentDecode(value)];
  }
  return { single, multi };
}

function clientIp(req: IncomingMessage): string {
  return (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
}

/** X-Ray trace header format: Root=1-<8 hex epoch seconds>-<24 hex random>. */
function traceId(): string {
  const seconds = Math.floor(Date.now() / 1000).toString(16);
  return `Root=1-${seconds}-${randomBytes(12).toString('hex')}`;
}

/** The IAM caller as API Gateway reports it under AWS_IAM authorization. */
function callerIdentity(
  req: IncomingMessage,
  credential: LocalCredential,
): APIGatewayProxyEvent['requestContext']['identity'] {
  return {
    accessKey: credential.accessKeyId,
    accountId: LOCAL_ACCOUNT_ID,
    apiKey: null,
    apiKeyId: null,
    caller: credential.principal.caller,
    clientCert: null,
    cognitoAuthenticationProvider: null,
    cognitoAuthenticationType: null,
    cognitoIdentityId: null,
    cognitoIdentityPoolId: null,
    principalOrgId: null,
    sourceIp: clientIp(req),
    user: credential.principal.caller,
    userAgent: req.headers['user-agent'] ?? null,
    userArn: credential.principal.sessionArn,
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** requestTime in API Gateway's Common Log Format: `17/Jun/2024:14:58:25 +0000`. */
function clfDate(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
}

/** Runs the route's handler like the Lambda proxy integration: 502 on error, 504 after the timeout. */
async function invoke(
  res: ServerResponse,
  event: APIGatewayProxyEvent,
  target: RouteTarget,
  options: HttpServerOptions,
  requestId: string,
): Promise<void> {
  const timeoutMs = options.integrationTimeoutMs ?? INTEGRATION_TIMEOUT_MS;
  const context = lambdaContext({ functionName: `audit-trail-${target}`, region: options.region, timeoutMs });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    const result = await Promise.race([options.handlers[target](event, context), timedOut]);
    if (result === 'timeout') {
      return sendError(res, requestId, {
        status: 504,
        code: 'integration_timeout',
        message: 'Endpoint request timed out',
      });
    }
    writeProxyResult(res, result, requestId);
  } catch (error) {
    options.onHandlerError?.(error, event);
    sendError(res, requestId, { status: 502, code: 'internal_error', message: 'Internal server error' });
  } finally {
    clearTimeout(timer);
  }
}

/** Writes an APIGatewayProxyResult; a malformed one is a 502, as API Gateway answers. */
function writeProxyResult(res: ServerResponse, result: APIGatewayProxyResult, requestId: string): void {
  if (typeof result !== 'object' || result === null || !Number.isInteger(result.statusCode)) {
    throw new Error('Malformed Lambda proxy response: statusCode must be an integer');
  }
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) {
    const existing = headers[name];
    const extra = values.map(String);
    headers[name] = existing === undefined ? extra : [...[existing].flat(), ...extra];
  }
  const hasType = Object.keys(headers).some((name) => name.toLowerCase() === 'content-type');
  const body = result.isBase64Encoded
    ? Buffer.from(result.body ?? '', 'base64')
    : Buffer.from(result.body ?? '', 'utf8');
  res.writeHead(result.statusCode, {
    ...(hasType ? {} : { 'content-type': 'application/json' }),
    ...headers,
    'content-length': body.length,
    'x-amzn-RequestId': requestId,
  });
  res.end(body);
}
