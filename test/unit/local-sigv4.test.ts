import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  canonicalQueryString,
  canonicalUri,
  type SigV4Credential,
  type SigV4Request,
  verifySigV4,
} from '../../local/sigv4.ts';
import { type RawRequest, signRequest } from '../integration/setup/signing.ts';

const writer: SigV4Credential = { accessKeyId: 'LOCALWRITERTESTKEY01', secretAccessKey: 'writer-secret' };
const withToken: SigV4Credential = {
  accessKeyId: 'LOCALTOKENTESTKEY001',
  secretAccessKey: 'token-secret',
  sessionToken: 'session-token',
};
const credentials = [writer, withToken];
const lookup = (id: string) => credentials.find((c) => c.accessKeyId === id);
const signingDate = new Date('2026-03-01T12:00:00Z');
const verifyAt = (request: SigV4Request, now = signingDate, region = 'us-east-1') =>
  verifySigV4(request, { region, lookup, now });

/** What the server sees for a request sent as-is: raw url, header pairs, body bytes. */
function onTheWire(request: RawRequest): SigV4Request {
  const url = request.url.replace(/^http:\/\/[^/]+/, '');
  return {
    method: request.method,
    url,
    rawHeaders: Object.entries(request.headers).flat(),
    body: Buffer.from(request.body ?? '', 'utf8'),
  };
}

async function signed(
  request: Partial<RawRequest> & { url: string },
  credential = writer,
  region = 'us-east-1',
) {
  const raw: RawRequest = { method: 'GET', headers: {}, ...request };
  return onTheWire(await signRequest(raw, { credentials: credential, region, signingDate }));
}

const failureOf = (result: ReturnType<typeof verifySigV4>) => (result.ok ? undefined : result.failure);

describe('verifySigV4 accepts what the AWS SDK signer signs', () => {
  const cases: [string, Partial<RawRequest> & { url: string }][] = [
    [
      'a POST with a JSON body',
      {
        method: 'POST',
        url: 'http://127.0.0.1:4000/v1/events',
        headers: { 'content-type': 'application/json' },
        body: '{"events":[{"id":"a"}]}',
      },
    ],
    [
      'a GET with an unsorted, repeated query',
      { url: 'http://127.0.0.1:4000/v1/events?to=2026&limit=5&actor=b&actor=a' },
    ],
    [
      'reserved characters in the query',
      { url: 'http://127.0.0.1:4000/v1/events?actor=alice%40example.com&q=a%20b%2Bc%2F%3D' },
    ],
    [
      'an encoded slash in a path segment',
      { url: 'http://127.0.0.1:4000/v1/logs/sandbox.local%2Fdemo%2F0/checkpoint' },
    ],
    ['spaces and non-ASCII in the path', { url: 'http://127.0.0.1:4000/v1/events/caf%C3%A9%20au%20lait' }],
    ['an empty query value', { url: 'http://127.0.0.1:4000/v1/events?cursor=&limit=1' }],
    [
      'a header value with runs of spaces',
      { url: 'http://127.0.0.1:4000/v1/events', headers: { 'x-note': '  a   b  ' } },
    ],
  ];
  for (const [name, request] of cases) {
    it(`accepts ${name}`, async () => {
      const result = verifyAt(await signed(request));
      expect(failureOf(result)).toBeUndefined();
      expect(result.ok && result.credential.accessKeyId).toBe(writer.accessKeyId);
    });
  }

  it('accepts a credential with a session token that the request carries', async () => {
    const result = verifyAt(await signed({ url: 'http://127.0.0.1:4000/v1/events' }, withToken));
    expect(failureOf(result)).toBeUndefined();
  });

  it('accepts the query parameters in any order on the wire', async () => {
    const request = await signed({ url: 'http://127.0.0.1:4000/v1/events?z=1&a=2' });
    expect(verifyAt({ ...request, url: '/v1/events?a=2&z=1' }).ok).toBe(true);
  });

  it('accepts a request signed up to 15 minutes before or after the server time', async () => {
    const request = await signed({ url: 'http://127.0.0.1:4000/v1/events' });
    expect(verifyAt(request, new Date(signingDate.getTime() + 14 * 60_000)).ok).toBe(true);
    expect(verifyAt(request, new Date(signingDate.getTime() - 14 * 60_000)).ok).toBe(true);
  });
});

describe('verifySigV4 rejects', () => {
  const post = () =>
    signed({
      method: 'POST',
      url: 'http://127.0.0.1:4000/v1/events?x=1',
      headers: { 'content-type': 'application/json' },
      body: '{"events":[]}',
    });

  it('rejects a request without Authorization as missing_authentication', () => {
    const failure = failureOf(
      verifyAt({ method: 'GET', url: '/v1/events', rawHeaders: ['Host', 'h'], body: Buffer.alloc(0) }),
    );
    expect(failure).toMatchObject({
      code: 'missing_authentication',
      errorType: 'MissingAuthenticationTokenException',
    });
  });

  const tampered: [string, (r: SigV4Request) => SigV4Request][] = [
    ['a changed body', (r) => ({ ...r, body: Buffer.from('{"events":[1]}') })],
    ['a changed path', (r) => ({ ...r, url: r.url.replace('/v1/events', '/v1/event') })],
    ['a changed query', (r) => ({ ...r, url: r.url.replace('x=1', 'x=2') })],
    ['a changed method', (r) => ({ ...r, method: 'PUT' })],
    [
      'a changed signed header',
      (r) => ({ ...r, rawHeaders: r.rawHeaders.map((v) => (v === 'application/json' ? 'text/plain' : v)) }),
    ],
    [
      'a signature made with another secret',
      (r) => ({
        ...r,
        rawHeaders: r.rawHeaders.map((v) => v.replace(/Signature=[0-9a-f]{4}/, 'Signature=0000')),
      }),
    ],
  ];
  for (const [name, tamper] of tampered) {
    it(`rejects ${name} as invalid_signature`, async () => {
      const failure = failureOf(verifyAt(tamper(await post())));
      expect(failure).toMatchObject({ code: 'invalid_signature', errorType: 'InvalidSignatureException' });
    });
  }

  it('rejects an access key that is not a local credential as unknown_access_key', async () => {
    const stranger = { accessKeyId: 'LOCALSTRANGER0000000', secretAccessKey: 'x' };
    const failure = failureOf(verifyAt(await signed({ url: 'http://127.0.0.1:4000/v1/events' }, stranger)));
    expect(failure?.code).toBe('unknown_access_key');
  });

  it('rejects a signature older than 15 minutes as signature_expired', async () => {
    const request = await signed({ url: 'http://127.0.0.1:4000/v1/events' });
    const failure = failureOf(verifyAt(request, new Date(signingDate.getTime() + 16 * 60_000)));
    expect(failure?.code).toBe('signature_expired');
    expect(failure?.message).toMatch(/^Signature expired: 20260301T120000Z/);
  });

  it('rejects a signature dated more than 15 minutes ahead as signature_expired', async () => {
    const request = await signed({ url: 'http://127.0.0.1:4000/v1/events' });
    const failure = failureOf(verifyAt(request, new Date(signingDate.getTime() - 16 * 60_000)));
    expect(failure?.message).toMatch(/^Signature not yet current/);
  });

  it('rejects a credential scoped to another region', async () => {
    const request = await signed({ url: 'http://127.0.0.1:4000/v1/events' }, writer, 'eu-west-1');
    expect(failureOf(verifyAt(request))?.message).toMatch(/scoped to a valid region, not 'eu-west-1'/);
  });

  it('rejects a credential scoped to another service', async () => {
    const raw = await signRequest(
      { method: 'GET', url: 'http://127.0.0.1:4000/v1/events', headers: {} },
      { credentials: writer, service: 'lambda', signingDate },
    );
    expect(failureOf(verifyAt(onTheWire(raw)))?.message).toMatch(
      /correct service: 'execute-api', not 'lambda'/,
    );
  });

  it('rejects a request whose session token differs from the credential', async () => {
    const request = await signed(
      { url: 'http://127.0.0.1:4000/v1/events' },
      { ...withToken, sessionToken: 'other' },
    );
    expect(failureOf(verifyAt(request))?.code).toBe('invalid_security_token');
  });

  it('rejects a session token on a credential that has none', async () => {
    const request = await signed(
      { url: 'http://127.0.0.1:4000/v1/events' },
      { ...writer, sessionToken: 'made-up' },
    );
    expect(failureOf(verifyAt(request))?.code).toBe('invalid_security_token');
  });

  it('rejects an Authorization header that is not SigV4', () => {
    const failure = failureOf(
      verifyAt({
        method: 'GET',
        url: '/',
        rawHeaders: ['Authorization', 'Bearer abc', 'Host', 'h'],
        body: Buffer.alloc(0),
      }),
    );
    expect(failure).toMatchObject({ code: 'invalid_signature', errorType: 'IncompleteSignatureException' });
  });

  it('rejects an Authorization header without a Signature', () => {
    const auth =
      'AWS4-HMAC-SHA256 Credential=LOCALWRITERTESTKEY01/20260301/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date';
    const failure = failureOf(
      verifyAt({
        method: 'GET',
        url: '/',
        rawHeaders: ['Authorization', auth, 'Host', 'h', 'X-Amz-Date', '20260301T120000Z'],
        body: Buffer.alloc(0),
      }),
    );
    expect(failure?.message).toMatch(/requires 'Signature'/);
  });

  it('rejects a signature that does not cover the Host header', async () => {
    const request = await signed({ url: 'http://127.0.0.1:4000/v1/events' });
    const rawHeaders = request.rawHeaders.map((v) => v.replace('SignedHeaders=host;', 'SignedHeaders='));
    expect(failureOf(verifyAt({ ...request, rawHeaders }))?.message).toMatch(
      /'Host' must be a signed header/,
    );
  });

  it('fails with a hint when x-amz-content-sha256 does not match the body', async () => {
    const request = await post();
    const failure = failureOf(verifyAt({ ...request, body: Buffer.from('{"other":true}') }));
    expect(failure?.message).toMatch(/x-amz-content-sha256 does not match the body/);
  });
});

describe('canonical forms (SigV4 for services other than S3)', () => {
  it('encodes the wire path a second time, keeping slashes', () => {
    expect(canonicalUri('/v1/logs/a%2Fb/checkpoint')).toBe('/v1/logs/a%252Fb/checkpoint');
    expect(canonicalUri('/v1/events/a b')).toBe('/v1/events/a%20b');
  });

  it('removes dot and empty segments from the path', () => {
    expect(canonicalUri('/v1//events/./x/../')).toBe('/v1/events/');
    expect(canonicalUri('/')).toBe('/');
  });

  it('sorts the query by name then value, encodes RFC 3986 style and keeps bare names as name=', () => {
    expect(canonicalQueryString('b=2&a=z&a=y&c&d=%7e*')).toBe('a=y&a=z&b=2&c=&d=~%2A');
  });

  it('treats + in the query as a literal plus, not a space', () => {
    expect(canonicalQueryString('q=a+b')).toBe('q=a%2Bb');
  });

  it('matches the get-vanilla vector of the AWS SigV4 test suite', () => {
    const request: SigV4Request = {
      method: 'GET',
      url: '/',
      rawHeaders: [
        'Host',
        'example.amazonaws.com',
        'X-Amz-Date',
        '20150830T123600Z',
        'Authorization',
        'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
      ],
      body: Buffer.alloc(0),
    };
    const result = verifySigV4(request, {
      region: 'us-east-1',
      service: 'service',
      now: new Date('2015-08-30T12:36:00Z'),
      lookup: () => ({
        accessKeyId: 'AKIDEXAMPLE',
        secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
      }),
    });
    expect(failureOf(result)).toBeUndefined();
  });
});

describe('requests signed the way curl before 8.x signs them', () => {
  /** curl 7.88 signs the path and query exactly as typed: no second encoding, no sorting. */
  function curlLegacySigned(pathAndQuery: string): SigV4Request {
    const [path = '', query = ''] = pathAndQuery.split('?');
    const amzDate = '20260301T120000Z';
    const scope = '20260301/us-east-1/execute-api/aws4_request';
    const canonical = [
      'GET',
      path,
      query,
      'host:127.0.0.1:4000',
      `x-amz-date:${amzDate}`,
      '',
      'host;x-amz-date',
      sha256(''),
    ].join('\n');
    const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
    let key: Buffer | string = `AWS4${writer.secretAccessKey}`;
    for (const part of scope.split('/')) key = createHmac('sha256', key).update(part).digest();
    const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
    const authorization = `AWS4-HMAC-SHA256 Credential=${writer.accessKeyId}/${scope}, SignedHeaders=host;x-amz-date, Signature=${signature}`;
    return {
      method: 'GET',
      url: pathAndQuery,
      rawHeaders: ['Host', '127.0.0.1:4000', 'Authorization', authorization, 'X-Amz-Date', amzDate],
      body: Buffer.alloc(0),
    };
  }
  const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

  it('accepts a sorted query with values, where both canonicalizations agree', () => {
    expect(failureOf(verifyAt(curlLegacySigned('/v1/events?actor=alice&limit=5')))).toBeUndefined();
  });

  for (const pathAndQuery of ['/v1/events?z=1&a=2', '/v1/events?x', '/v1/logs/a%2Fb/checkpoint']) {
    it(`rejects ${pathAndQuery} as API Gateway does, naming the cause`, () => {
      const failure = failureOf(verifyAt(curlLegacySigned(pathAndQuery)));
      expect(failure?.code).toBe('invalid_signature');
      expect(failure?.message).toMatch(/as curl before 8\.x does/);
    });
  }
});
