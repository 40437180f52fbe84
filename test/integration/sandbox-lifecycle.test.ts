import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox } from '../../local/sandbox.ts';
import { auditEvent, callApi } from './setup/sandbox.ts';

/** Pids of DynamoDB Local processes listening on `port` (each sandbox has its own port). */
function javaOnPort(port: number): string[] {
  try {
    // Anchored on `java`: the watchdog shell's command line names the jar and port too.
    const pattern = `^java .*DynamoDBLocal\\.jar .*-port ${port}$`;
    return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).trim().split('\n');
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

async function eventually(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((wake) => setTimeout(wake, 100));
  }
}

const portOf = (endpoint: string) => Number(new URL(endpoint).port);

let dataDir: string;
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'sandbox-lifecycle-'));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

// Each test starts one or two sandboxes (a JVM each): generous limits for a loaded machine.
const ONE_START = { timeout: 90_000 };
const TWO_STARTS = { timeout: 180_000 };

describe('sandbox lifecycle', () => {
  it('leaves no Java process behind after stop, and stop can be called again', ONE_START, async () => {
    const sandbox = await startSandbox({ port: 0, dataDir: join(dataDir, 'stop'), log: () => {} });
    const port = portOf(sandbox.dynamodb.endpoint);
    try {
      expect(javaOnPort(port)).toHaveLength(1);
    } finally {
      await sandbox.stop();
    }
    expect(javaOnPort(port)).toEqual([]);
    await expect(sandbox.stop()).resolves.toBeUndefined();
  });

  it(
    'keeps events, credentials and the signing key across restarts when persisting',
    TWO_STARTS,
    async () => {
      const dir = join(dataDir, 'persist');
      const event = auditEvent();
      const first = await startSandbox({ port: 0, dataDir: dir, persist: true, log: () => {} });
      let firstKeys: unknown;
      try {
        expect(
          (await callApi(first, 'writer', { path: '/v1/events', body: { events: [event] } })).status,
        ).toBe(201);
        firstKeys = (await callApi(first, 'auditor', { path: '/v1/public-keys' })).json();
      } finally {
        await first.stop();
      }
      const second = await startSandbox({ port: 0, dataDir: dir, persist: true, log: () => {} });
      try {
        expect(second.credentials).toEqual(first.credentials);
        const read = await callApi(second, 'reader', { path: `/v1/events/${event.id}` });
        expect(read.status).toBe(200);
        expect((await callApi(second, 'auditor', { path: '/v1/public-keys' })).json()).toEqual(firstKeys);
      } finally {
        await second.stop();
      }
    },
  );

  it('starts with an empty ledger but the same credentials when not persisting', TWO_STARTS, async () => {
    const dir = join(dataDir, 'ephemeral');
    const event = auditEvent();
    const first = await startSandbox({ port: 0, dataDir: dir, log: () => {} });
    try {
      expect((await callApi(first, 'writer', { path: '/v1/events', body: { events: [event] } })).status).toBe(
        201,
      );
    } finally {
      await first.stop();
    }
    const second = await startSandbox({ port: 0, dataDir: dir, log: () => {} });
    try {
      expect(second.credentials).toEqual(first.credentials);
      expect((await callApi(second, 'reader', { path: `/v1/events/${event.id}` })).status).toBe(404);
    } finally {
      await second.stop();
    }
  });

  it(
    'takes DynamoDB Local down when the process that started it is killed with SIGKILL',
    ONE_START,
    async () => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(import.meta.dirname, 'setup', 'dynamodb-child.ts')],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      const started = await new Promise<{ port: number }>((resolve, reject) => {
        child.stdout.once('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString('utf8'))));
        child.once('exit', (code) => reject(new Error(`the child exited early with ${code}`)));
      });
      try {
        expect(javaOnPort(started.port)).toHaveLength(1);
      } finally {
        child.kill('SIGKILL');
      }
      await eventually(
        () => javaOnPort(started.port).length === 0,
        `no Java listens on port ${started.port}`,
      );
    },
  );
});
