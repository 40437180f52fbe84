import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * AWS Signature Version 4 verification of incoming requests, as API Gateway does for AWS_IAM routes
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html). Only the Authorization
 * header form; presigned (query-string) requests are refused with a clear message.
 */

const ALGORITHM = 'AWS4-HMAC-SHA256';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** API Gateway's allowed clock skew between the signer and the server, both ways. */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

export interface SigV4Credential {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Required in the request (X-Amz-Security-Token) when set; a request may not carry one otherwise. */
  readonly sessionToken?: string;
}

/** The request as it came off the wire: nothing decoded or re-encoded. */
export interface SigV4Request {
  readonly method: string;
  /** Path and query exactly as sent (Node's `req.url`). */
  readonly url: string;
  /** Header names and values as sent, alternating (Node's `req.rawHeaders`). */
  readonly rawHeaders: readonly string[];
  readonly body: Uint8Array;
}

export interface SigV4Options<C extends SigV4Credential> {
  readonly region: string;
  /** @default 'execute-api' */
  readonly service?: string;
  /** Finds the credential of an access key id; undefined if unknown. */
  readonly lookup: (accessKeyId: string) => C | undefined;
  /** @default - the current time */
  readonly now?: Date;
}

export type SigV4FailureCode =
  | 'missing_authentication'
  | 'invalid_signature'
  | 'unknown_access_key'
  | 'invalid_security_token'
  | 'signature_expired';

export interface SigV4Failure {
  readonly code: SigV4FailureCode;
  readonly message: string;
  /** The `x-amzn-ErrorType` API Gateway sends for this failure. */
  readonly errorType: string;
}

export type SigV4Result<C extends SigV4Credential> =
  | { readonly ok: true; readonly credential: C }
  | { readonly ok: false; readonly failure: SigV4Failure };

/** Verifies a request's SigV4 Authorization header against the local credentials. */
export function verifySigV4<C extends SigV4Credential>(
  request: SigV4Request,
  options: SigV4Options<C>,
): SigV4Result<C> {
  try {
    return { ok: true, credential: verifyOrThrow(request, options) };
  } catch (error) {
    if (error instanceof SigV4Error) return { ok: false, failure: error.failure };
    throw error;
  }
}

class SigV4Error extends Error {
  constructor(readonly failure: SigV4Failure) {
    super(failure.message);
  }
}

const fail = (code: SigV4FailureCode, errorType: string, message: string): never => {
  throw new SigV4Error({ code, message, errorType });
};
const incomplete = (message: string) => fail('invalid_signature', 'IncompleteSignatureException', message);

function verifyOrThrow<C extends SigV4Credential>(request: SigV4Request, options: SigV4Options<C>): C {
  const service = options.service ?? 'execute-api';
  const headers = headerMap(request.rawHeaders);
  const authorization = headers.get('authorization');
  if (authorization === undefined) {
    const presigned = /[?&]X-Amz-Signature=/i.test(request.url);
    return fail(
      'missing_authentication',
      'MissingAuthenticationTokenException',
      presigned
        ? 'Missing Authentication Token: the sandbox accepts SigV4 in the Authorization header only, not presigned URLs'
        : 'Missing Authentication Token: sign the request with AWS Signature Version 4 (service execute-api)',
    );
  }
  const auth = parseAuthorization(authorization);
  const date = requestDate(headers);
  checkScope(auth.scope, date.longDate, options.region, service);
  const credential = options.lookup(auth.accessKeyId);
  if (!credential) {
    return fail(
      'unknown_access_key',
      'UnrecognizedClientException',
      `The security token included in the request is invalid: access key ${auth.accessKeyId} is not a sandbox credential`,
    );
  }
  checkSessionToken(headers.get('x-amz-security-token'), credential);
  checkSkew(date, options.now ?? new Date());
  const payloadHash = sha256Hex(request.body);
  const canonical = canonicalRequest(request, headers, auth.signedHeaders, payloadHash);
  const expected = signature(credential.secretAccessKey, date.longDate, auth.scope, canonical);
  if (!constantTimeEqual(expected, auth.signature)) {
    return fail(
      'invalid_signature',
      'InvalidSignatureException',
      `The request signature we calculated does not match the signature you provided${mismatchHint(request, headers, auth, date, credential, payloadHash)}. ` +
        `The canonical request was:\n${canonical}`,
    );
  }
  return credential;
}

/**
 * Names the likely cause of a mismatch. curl before 8.x (7.88 in Debian 12) signs the path and query as
 * typed: no second encoding of the path, no sorting of the query, no `=` after a bare name. API Gateway
 * rejects such requests too, so the sandbox does as well, but says why.
 */
function mismatchHint(
  request: SigV4Request,
  headers: Map<string, string>,
  auth: ParsedAuthorization,
  date: RequestDate,
  credential: SigV4Credential,
  payloadHash: string,
): string {
  const declared = headers.get('x-amz-content-sha256');
  if (declared !== undefined && declared !== payloadHash)
    return ' (x-amz-content-sha256 does not match the body)';
  const [path = '', query = ''] = splitUrl(request.url);
  const verbatim = canonicalRequestParts(
    request.method,
    path,
    query,
    headers,
    auth.signedHeaders,
    payloadHash,
  );
  const signedVerbatim = signature(credential.secretAccessKey, date.longDate, auth.scope, verbatim);
  return constantTimeEqual(signedVerbatim, auth.signature)
    ? ' (it was signed over the path and query exactly as typed, as curl before 8.x does; SigV4 wants the ' +
        'path encoded twice and the query sorted with name=value pairs: sort the query, give each parameter ' +
        'a value, or use a newer curl or an AWS SDK)'
    : '';
}

/** Lower-cased header name -> values joined by ',' in arrival order, as SigV4 canonicalizes repeats. */
export function headerMap(rawHeaders: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    const previous = map.get(name);
    map.set(name, previous === undefined ? value : `${previous},${value}`);
  }
  return map;
}

export interface ParsedAuthorization {
  readonly accessKeyId: string;
  /** `<yyyymmdd>/<region>/<service>/aws4_request` */
  readonly scope: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
}

/** Parses `AWS4-HMAC-SHA256 Credential=…/…, SignedHeaders=a;b, Signature=hex`. */
export function parseAuthorization(header: string): ParsedAuthorization {
  const [algorithm, ...rest] = header.trim().split(/\s+/);
  if (algorithm !== ALGORITHM) {
    return incomplete(`Authorization header must use ${ALGORITHM}, got '${algorithm ?? ''}'`);
  }
  const fields = new Map<string, string>();
  for (const part of rest.join('').split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signatureHex = fields.get('Signature');
  const missing = [
    credential === undefined && 'Credential',
    signedHeaders === undefined && 'SignedHeaders',
    signatureHex === undefined && 'Signature',
  ].filter(Boolean);
  if (missing.length > 0) {
    return incomplete(
      `Authorization header requires ${missing.map((name) => `'${name}'`).join(', ')} parameter(s)`,
    );
  }
  const slash = credential!.indexOf('/');
  if (slash <= 0) return incomplete(`Credential '${credential}' is not <access key id>/<scope>`);
  const headerList = signedHeaders!.split(';');
  if (!headerList.includes('host')) {
    return incomplete("'Host' must be a signed header (SignedHeaders lacks host)");
  }
  return {
    accessKeyId: credential!.slice(0, slash),
    scope: credential!.slice(slash + 1),
    signedHeaders: headerList,
    signature: signatureHex!,
  };
}

interface RequestDate {
  /** `yyyymmddThhmmssZ` as it enters the string to sign. */
  readonly longDate: string;
  readonly time: Date;
}

function requestDate(headers: Map<string, string>): RequestDate {
  const amzDate = headers.get('x-amz-date');
  if (amzDate !== undefined) {
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate.trim());
    if (!m) return incomplete(`X-Amz-Date '${amzDate}' is not in the form yyyyMMddTHHmmssZ`);
    return { longDate: amzDate.trim(), time: new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`) };
  }
  const httpDate = headers.get('date');
  const time = httpDate === undefined ? undefined : new Date(httpDate);
  if (!time || Number.isNaN(time.getTime())) {
    return incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header");
  }
  return { longDate: time.toISOString().replace(/[-:]|\.\d{3}/g, ''), time };
}

function checkScope(scope: string, longDate: string, region: string, service: string): void {
  const [day, scopeRegion, scopeService, terminator, ...extra] = scope.split('/');
  if (terminator !== 'aws4_request' || extra.length > 0) {
    incomplete(`Credential scope '${scope}' must be <date>/<region>/<service>/aws4_request`);
  }
  if (day !== longDate.slice(0, 8)) {
    fail(
      'invalid_signature',
      'InvalidSignatureException',
      `Date in Credential scope (${day}) does not match the request date ${longDate}`,
    );
  }
  if (scopeRegion !== region) {
    fail(
      'invalid_signature',
      'InvalidSignatureException',
      `Credential should be scoped to a valid region, not '${scopeRegion}': the sandbox runs in ${region}`,
    );
  }
  if (scopeService !== service) {
    fail(
      'invalid_signature',
      'InvalidSignatureException',
      `Credential should be scoped to correct service: '${service}', not '${scopeService}'`,
    );
  }
}

function checkSessionToken(token: string | undefined, credential: SigV4Credential): void {
  if (token === credential.sessionToken) return;
  fail(
    'invalid_security_token',
    'UnrecognizedClientException',
    credential.sessionToken === undefined
      ? 'The security token included in the request is invalid: sandbox credentials have no session token'
      : 'The security token included in the request is invalid',
  );
}

function checkSkew(date: RequestDate, now: Date): void {
  const skew = date.time.getTime() - now.getTime();
  if (Math.abs(skew) <= MAX_CLOCK_SKEW_MS) return;
  const compact = (d: Date) => d.toISOString().replace(/[-:]|\.\d{3}/g, '');
  fail(
    'signature_expired',
    'InvalidSignatureException',
    skew < 0
      ? `Signature expired: ${date.longDate} is now earlier than ${compact(new Date(now.getTime() - MAX_CLOCK_SKEW_MS))} (${compact(now)} - 15 min.)`
      : `Signature not yet current: ${date.longDate} is still later than ${compact(new Date(now.getTime() + MAX_CLOCK_SKEW_MS))} (${compact(now)} + 15 min.)`,
  );
}

/** The SigV4 canonical request. Each line is one step of the spec. */
export function canonicalRequest(
  request: Pick<SigV4Request, 'method' | 'url'>,
  headers: Map<string, string>,
  signedHeaders: readonly string[],
  payloadHash: string,
): string {
  const [path, query] = splitUrl(request.url);
  return canonicalRequestParts(
    request.method,
    canonicalUri(path),
    canonicalQueryString(query),
    headers,
    signedHeaders,
    payloadHash,
  );
}

function splitUrl(url: string): [path: string, query: string] {
  const queryStart = url.indexOf('?');
  return queryStart < 0 ? [url, ''] : [url.slice(0, queryStart), url.slice(queryStart + 1)];
}

function canonicalRequestParts(
  method: string,
  uri: string,
  query: string,
  headers: Map<string, string>,
  signedHeaders: readonly string[],
  payloadHash: string,
): string {
  const headerLines = signedHeaders.map(
    (name) => `${name}:${canonicalHeaderValue(headers.get(name) ?? '')}\n`,
  );
  return [method.toUpperCase(), uri, query, headerLines.join(''), signedHeaders.join(';'), payloadHash].join(
    '\n',
  );
}

/**
 * Canonical URI for every service but S3: dot segments and empty segments removed, then the path as
 * sent (already percent-encoded once) is encoded again, slashes kept. So `a%2Fb` signs as `a%252Fb`.
 * This is what the AWS SDKs' signer (uriEscapePath) does and what API Gateway checks.
 */
export function canonicalUri(rawPath: string): string {
  const segments: string[] = [];
  for (const segment of rawPath.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const trailing = segments.length > 0 && rawPath.endsWith('/') ? '/' : '';
  const normalized = `/${segments.join('/')}${trailing}`;
  return uriEncode(normalized).replace(/%2F/g, '/');
}

/**
 * Canonical query: each name and value percent-decoded once then RFC 3986-encoded, sorted by name then
 * value; a bare `name` counts as `name=`. `+` is a literal plus, not a space (SigV4 never uses form
 * encoding).
 */
export function canonicalQueryString(rawQuery: string): string {
  const pairs: [string, string][] = [];
  for (const piece of rawQuery.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    const name = eq < 0 ? piece : piece.slice(0, eq);
    const value = eq < 0 ? '' : piece.slice(eq + 1);
    if (name.toLowerCase() === 'x-amz-signature') continue;
    pairs.push([uriEncode(percentDecode(name)), uriEncode(percentDecode(value))]);
  }
  pairs.sort(([n1, v1], [n2, v2]) => (n1 < n2 ? -1 : n1 > n2 ? 1 : v1 < v2 ? -1 : v1 > v2 ? 1 : 0));
  return pairs.map(([name, value]) => `${name}=${value}`).join('&');
}

/** Decodes %XX escapes; a malformed escape is kept as is (decodeURIComponent would throw). */
export function percentDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** RFC 3986 encoding: everything but A-Z a-z 0-9 - _ . ~ (encodeURIComponent leaves !'()* alone). */
export function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** Header values: CR/LF become spaces, runs of blanks collapse to one, ends trimmed (as the SDK signer). */
function canonicalHeaderValue(value: string): string {
  return value
    .replace(/[\r\n]/g, ' ')
    .replace(/[ \t]+/g, ' ')
    .replace(/^ | $/g, '');
}

function signature(secret: string, longDate: string, scope: string, canonical: string): string {
  const stringToSign = [ALGORITHM, longDate, scope, sha256Hex(canonical)].join('\n');
  let key: Buffer | string = `AWS4${secret}`;
  for (const part of scope.split('/')) key = createHmac('sha256', key).update(part).digest();
  return createHmac('sha256', key).update(stringToSign).digest('hex');
}

export function sha256Hex(data: Uint8Array | string): string {
  if (typeof data !== 'string' && data.byteLength === 0) return EMPTY_SHA256;
  return createHash('sha256').update(data).digest('hex');
}

function constantTimeEqual(expected: string, actual: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(actual, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
