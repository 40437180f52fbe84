import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { API_ROUTES } from '#core/api-routes.ts';
import { type LocalCredential, sandboxPrincipal } from '../../local/credentials.ts';
import { type LocalHttpServer, matchRoute, resolvePort, startHttpServer } from '../../local/http-server.ts';
import { type RawRequest, send, signedSend } from '../integration/setup/signing.ts';

// shared/ sits beside the repository (on developer machines and in CI alike).
const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/apigw-rest-iam-auth.json', import.meta.url), 'utf8'),
) as APIGatewayProxyEvent;

const writer: LocalCredential = {
  accessKeyId: 'LOCALWRITERUNITTEST1',
  secretAccessKey: 'writer-secret',
  principal: sandboxPrincipal('writer'),
};
const reader: LocalCredential = {
  accessKeyId: 'LOCALREADERUNITTEST1',
  secretAccessKey: 'reader-secret',
  principal: sandboxPrincipal('reader'),
};
const auditor: LocalCredential = {
  accessKeyId: 'LOCALAUDITORUNITTST1',
  secretAccessKey: 'auditor-secret',
  principal: sandboxPrincipal('auditor'),
};

let server: LocalHttpServer;
let seen: APIGatewayProxyEvent[] = [];
let reply: (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;
const handlerErrors: unknown[] = [];

beforeAll(async () => {
  const handler = async (event: APIGatewayProxyEvent) => {
    seen.push(event);
    return reply(event);
  };
  server = await startHttpServer({
    port: 0,
    region: 'us-east-1',
    credentials: [writer, reader, auditor],
    handlers: { ingest: handler, read: handler },
    maxBodyBytes: 1024,
    onHandlerError: (error) => handlerErrors.push(error),
  });
});
afterAll(() => server.close());
beforeEach(() => {
  seen = [];
  reply = async () => ({ statusCode: 200, body: '{"ok":true}' });
});

const call = (credential: LocalCredential, request: Partial<RawRequest> & { path: string }) =>
  signedSend(
    { method: 'GET', headers: {}, ...request, url: `${server.url}${request.path}` },
    { credentials: credential },
  );

describe('the proxy event', () => {
  it('has every field of the captured API Gateway event, with the sandbox caller as identity', async () => {
    const response = await call(writer, {
      method: 'POST',
      path: '/v1/events',
      headers: { 'content-type': 'application/json', 'User-Agent': 'unit-test/1' },
      body: '{"events":[]}',
    });
    expect(response.status).toBe(200);
    const event = seen[0]!;
    expect(Object.keys(event).sort()).toEqual(Object.keys(fixture).sort());
    expect(Object.keys(event.requestContext).sort()).toEqual(
      expect.arrayContaining(Object.keys(fixture.requestContext)),
    );
    expect(Object.keys(event.requestContext.identity)).toEqual(
      expect.arrayContaining(Object.keys(fixture.requestContext.identity)),
    );
    expect(event).toMatchObject({
      resource: '/v1/events',
      path: '/v1/events',
      httpMethod: 'POST',
      body: '{"events":[]}',
      isBase64Encoded: false,
      queryStringParameters: null,
      multiValueQueryStringParameters: null,
      pathParameters: null,
      stageVariables: null,
    });
    expect(event.requestContext).toMatchObject({
      resourcePath: '/v1/events',
      httpMethod: 'POST',
      path: '/local/v1/events',
      stage: 'local',
      accountId: '000000000000',
      protocol: 'HTTP/1.1',
      identity: {
        userArn: 'arn:aws:sts::000000000000:assumed-role/audit-trail-sandbox-writer/sandbox',
        accountId: '000000000000',
        accessKey: writer.accessKeyId,
        caller: 'LOCALROLEWRITER:sandbox',
        sourceIp: '127.0.0.1',
        userAgent: 'unit-test/1',
      },
    });
    expect(event.requestContext.requestId).toBe(response.headers['x-amzn-requestid']);
    expect(event.requestContext.requestTime).toMatch(
      /^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/,
    );
    expect(event.headers['content-type']).toBe('application/json');
    expect(event.multiValueHeaders['User-Agent']).toEqual(['unit-test/1']);
    expect(event.headers['X-Forwarded-For']).toBe('127.0.0.1');
  });

  it('decodes path parameters once and keeps the path encoded, as API Gateway does', async () => {
    await call(auditor, { path: '/v1/logs/sandbox.local%2Fdemo%2F0/checkpoint' });
    const event = seen[0]!;
    expect(event.resource).toBe('/v1/logs/{origin}/checkpoint');
    expect(event.pathParameters).toEqual({ origin: 'sandbox.local/demo/0' });
    expect(event.path).toBe('/v1/logs/sandbox.local%2Fdemo%2F0/checkpoint');
  });

  it('decodes query parameters, keeping the last value in the single-value map', async () => {
    await call(reader, { path: '/v1/events?actor=alice%40example.com&resource=a&resource=b' });
    const event = seen[0]!;
    expect(event.queryStringParameters).toEqual({ actor: 'alice@example.com', resource: 'b' });
    expect(event.multiValueQueryStringParameters).toEqual({
      actor: ['alice@example.com'],
      resource: ['a', 'b'],
    });
  });
});

describe('responses', () => {
  it('writes the handler result: status, headers, multi-value headers and body', async () => {
    reply = async () => ({
      statusCode: 201,
      headers: { 'content-type': 'application/json', 'x-one': '1' },
      multiValueHeaders: { 'x-many': ['a', 'b'] },
      body: '{"created":true}',
    });
    const response = await call(writer, { method: 'POST', path: '/v1/events', body: '{}' });
    expect(response.status).toBe(201);
    expect(response.headers['x-one']).toBe('1');
    expect(response.headers['x-many']).toBe('a, b');
    expect(response.json()).toEqual({ created: true });
  });

  it('decodes a base64 body', async () => {
    reply = async () => ({
      statusCode: 200,
      body: Buffer.from('plain bytes').toString('base64'),
      isBase64Encoded: true,
    });
    const response = await call(reader, { path: '/v1/public-keys' });
    expect(response.body).toBe('plain bytes');
  });

  it('fails with 502 when the handler throws', async () => {
    reply = async () => {
      throw new Error('boom');
    };
    const response = await call(reader, { path: '/v1/public-keys' });
    expect(response.status).toBe(502);
    expect(response.json()).toEqual({ error: { code: 'internal_error', message: 'Internal server error' } });
    expect(handlerErrors.at(-1)).toMatchObject({ message: 'boom' });
  });

  it('fails with 502 when the handler returns no status code', async () => {
    reply = async () => ({ body: 'x' }) as unknown as APIGatewayProxyResult;
    expect((await call(reader, { path: '/v1/public-keys' })).status).toBe(502);
  });
});

describe('rejections before the handler', () => {
  it('rejects an unsigned request with 403 missing_authentication', async () => {
    const response = await send({ method: 'GET', url: `${server.url}/v1/events`, headers: {} });
    expect(response.status).toBe(403);
    expect(response.headers['x-amzn-errortype']).toBe('MissingAuthenticationTokenException');
    expect(response.json()).toMatchObject({ error: { code: 'missing_authentication' } });
    expect(seen).toEqual([]);
  });

  it('rejects a writer on GET /v1/events with 403 access_denied', async () => {
    const response = await call(writer, { path: '/v1/events' });
    expect(response.status).toBe(403);
    expect(response.json()).toMatchObject({
      error: { code: 'access_denied', message: expect.stringContaining('execute-api:Invoke') },
    });
    expect(seen).toEqual([]);
  });

  it('rejects a reader on POST /v1/events with 403 access_denied', async () => {
    const response = await call(reader, { method: 'POST', path: '/v1/events', body: '{}' });
    expect(response.json()).toMatchObject({ error: { code: 'access_denied' } });
  });

  it('rejects an unknown path with 404 not_found', async () => {
    const response = await call(reader, { path: '/v1/nothing' });
    expect(response.status).toBe(404);
    expect(response.json()).toMatchObject({ error: { code: 'not_found' } });
  });

  it('rejects an unsupported method with 405 and an Allow header', async () => {
    const response = await call(reader, { method: 'DELETE', path: '/v1/events' });
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe('POST, GET');
  });

  it('rejects a body over the limit with 413 before checking the signature', async () => {
    const response = await send({
      method: 'POST',
      url: `${server.url}/v1/events`,
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(2048),
    });
    expect(response.status).toBe(413);
    expect(response.json()).toMatchObject({ error: { code: 'payload_too_large' } });
  });
});

describe('a chunked body over the limit', () => {
  it('rejects it with 413 once the bytes read pass the limit', async () => {
    const { hostname, port } = new URL(server.url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ method: 'POST', hostname, port, path: '/v1/events' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write('x'.repeat(800)); // no Content-Length: Node sends it chunked
      req.end('y'.repeat(800));
    });
    expect(status).toBe(413);
    expect(seen).toEqual([]);
  });
});

describe('matchRoute', () => {
  it('keeps an encoded slash inside its segment', () => {
    const match = matchRoute(API_ROUTES, 'GET', '/v1/logs/a%2Fb/appends');
    expect(match).toMatchObject({ kind: 'found', pathParameters: { origin: 'a/b' } });
  });

  it('does not match an empty parameter segment', () => {
    expect(matchRoute(API_ROUTES, 'GET', '/v1/events/').kind).toBe('not_found');
  });
});

describe('resolvePort', () => {
  it('prefers the explicit port, then PORT, then 4000', () => {
    expect(resolvePort(0, { PORT: '5000' })).toBe(0);
    expect(resolvePort(undefined, { PORT: '5000' })).toBe(5000);
    expect(resolvePort(undefined, {})).toBe(4000);
  });

  it('rejects a PORT that is not a port number', () => {
    expect(() => resolvePort(undefined, { PORT: 'http' })).toThrow(/PORT must be a port number/);
  });
});
