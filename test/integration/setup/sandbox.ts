import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { Role } from '#core/tenancy.ts';
import { type Sandbox, type SandboxOptions, startSandbox } from '../../../local/sandbox.ts';
import { type RawResponse, signedSend } from './signing.ts';

export interface SandboxHarness {
  /** The running sandbox (available inside tests and hooks after beforeAll). */
  readonly sandbox: Sandbox;
  /** What the sandbox logged (handler errors, dead letters), for assertions and debugging. */
  readonly logs: readonly string[];
  /** Sends a request signed like the AWS SDK with the credential of `role`. */
  call(role: Role, request: ApiCall): Promise<RawResponse>;
}

export interface ApiCall {
  readonly method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path and query, percent-encoded as on the wire. */
  readonly path: string;
  /** An object is sent as JSON. */
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

/**
 * Starts one sandbox for the calling test file (random port, temporary data directory) and stops it,
 * Java included, after the file's tests.
 */
export function useSandbox(options: Omit<SandboxOptions, 'port' | 'dataDir' | 'log'> = {}): SandboxHarness {
  let sandbox: Sandbox | undefined;
  let dataDir: string | undefined;
  const logs: string[] = [];
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sandbox-test-'));
    sandbox = await startSandbox({ ...options, port: 0, dataDir, log: (line) => logs.push(line) });
  });
  afterAll(async () => {
    await sandbox?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });
  const harness: SandboxHarness = {
    get sandbox() {
      if (!sandbox) throw new Error('the sandbox is not started: use it inside tests or hooks');
      return sandbox;
    },
    logs,
    call: (role, request) => callApi(harness.sandbox, role, request),
  };
  return harness;
}

/** Sends a request to a sandbox, signed with @smithy/signature-v4 as the AWS SDK would. */
export function callApi(sandbox: Sandbox, role: Role, request: ApiCall): Promise<RawResponse> {
  const json = request.body !== undefined && typeof request.body !== 'string';
  const body = json ? JSON.stringify(request.body) : (request.body as string | undefined);
  return signedSend(
    {
      method: request.method ?? (body === undefined ? 'GET' : 'POST'),
      url: `${sandbox.endpoint}${request.path}`,
      headers: { ...(json ? { 'content-type': 'application/json' } : {}), ...request.headers },
      body,
    },
    { credentials: sandbox.credentials[role], region: sandbox.region },
  );
}

/** A valid AuditEventInput with a fresh id. */
export function auditEvent(overrides: Record<string, unknown> = {}) {
  return {
    id: randomUUID(),
    time: '2026-03-01T12:00:00Z',
    action: 'deployment.apply',
    category: 'deployment',
    outcome: 'success',
    actor: { type: 'user', id: 'alice@example.com' },
    resources: [{ type: 'aws.cloudformation.stack', id: 'payments-prod' }],
    source: { system: 'integration-test' },
    ...overrides,
  };
}
