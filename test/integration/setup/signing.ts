import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

/** Test helpers that sign like the AWS SDK (its own SigV4 signer) and send with exact control of the wire. */

export interface SigningCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface RawRequest {
  readonly method: string;
  /** `http://host:port/path?query`, path and query already percent-encoded as they go on the wire. */
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

export interface SignOptions {
  readonly credentials: SigningCredentials;
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default 'execute-api' */
  readonly service?: string;
  /** @default - now */
  readonly signingDate?: Date;
}

/**
 * Signs a request with @smithy/signature-v4, the signer inside every AWS SDK v3 client. The SDK hands
 * the signer the wire path and the decoded query, which is what this does.
 */
export async function signRequest(request: RawRequest, options: SignOptions): Promise<RawRequest> {
  const { origin, host, hostname, port, path, query } = splitUrl(request.url);
  const signer = new SignatureV4({
    credentials: options.credentials,
    region: options.region ?? 'us-east-1',
    service: options.service ?? 'execute-api',
    sha256: Sha256,
  });
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: 'http:',
      hostname,
      port,
      path,
      query: decodeQuery(query),
      headers: { ...request.headers, host },
      body: request.body,
    },
    { signingDate: options.signingDate },
  );
  const headers = Object.fromEntries(Object.entries(signed.headers).map(([k, v]) => [k, String(v)]));
  return { ...request, url: `${origin}${path}${query ? `?${query}` : ''}`, headers };
}

function splitUrl(url: string) {
  const match = /^(http:\/\/([^/:]+):(\d+))(\/[^?]*)(?:\?(.*))?$/.exec(url);
  if (!match) throw new Error(`expected http://host:port/path[?query], got ${url}`);
  const [, origin = '', hostname = '', port = '', path = '/', query = ''] = match;
  return { origin, host: `${hostname}:${port}`, hostname, port: Number(port), path, query };
}

function decodeQuery(query: string): Record<string, string | string[]> {
  const result: Record<string, string | string[]> = {};
  for (const piece of query.split('&').filter(Boolean)) {
    const eq = piece.indexOf('=');
    const name = decodeURIComponent(eq < 0 ? piece : piece.slice(0, eq));
    const value = eq < 0 ? '' : decodeURIComponent(piece.slice(eq + 1));
    const previous = result[name];
    result[name] = previous === undefined ? value : [...[previous].flat(), value];
  }
  return result;
}

export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  json<T = Record<string, unknown>>(): T;
}

/** Sends a request byte-exact (no URL normalisation, unlike fetch) over node:http. */
export function send(request: RawRequest): Promise<RawResponse> {
  const { hostname, port, path, query } = splitUrl(request.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        method: request.method,
        hostname,
        port,
        path: `${path}${query ? `?${query}` : ''}`,
        headers: request.headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(request.body);
  });
}

/** Signs then sends. */
export async function signedSend(request: RawRequest, options: SignOptions): Promise<RawResponse> {
  return send(await signRequest(request, options));
}
