import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOrCreateSigningKey } from '../../local/signing-key.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'signing-key-test-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('loadOrCreateSigningKey', () => {
  it('creates a P-256 PKCS#8 PEM readable by its owner only', () => {
    const path = join(dir, 'nested', 'signing-key.pem');
    const key = loadOrCreateSigningKey(path);
    expect(key.created).toBe(true);
    expect(key.pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const parsed = createPrivateKey(key.pem);
    expect(parsed.asymmetricKeyType).toBe('ec');
    expect(parsed.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('loads the same key on the next start', () => {
    const path = join(dir, 'signing-key.pem');
    const first = loadOrCreateSigningKey(path);
    const second = loadOrCreateSigningKey(path);
    expect(second).toEqual({ ...first, created: false });
  });

  it('rejects a key file that holds an RSA key', () => {
    const path = join(dir, 'signing-key.pem');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    writeFileSync(path, privateKey.export({ format: 'pem', type: 'pkcs8' }));
    expect(() => loadOrCreateSigningKey(path)).toThrow(/holds a rsa key, not P-256/);
  });

  it('rejects a key file that is not a PEM key', () => {
    const path = join(dir, 'signing-key.pem');
    writeFileSync(path, 'not a key');
    expect(() => loadOrCreateSigningKey(path)).toThrow(/is not a PEM private key/);
  });
});
