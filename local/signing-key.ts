import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface SigningKeyFile {
  /** PKCS#8 PEM of a P-256 private key. */
  readonly pem: string;
  readonly path: string;
  /** True when this call generated the key. */
  readonly created: boolean;
}

/**
 * Loads the sandbox's P-256 signing key from `path`, creating it (mode 0600) on first use. The new key is
 * written to a temporary file and hard-linked into place, which fails if the file exists: two sandboxes
 * starting on one data directory end up with one key, and no reader ever sees a half-written file.
 */
export function loadOrCreateSigningKey(path: string): SigningKeyFile {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  const fresh = generateP256Pem();
  writeFileSync(temporary, fresh, { mode: 0o600 });
  try {
    linkSync(temporary, path);
    return { pem: fresh, path, created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    unlinkSync(temporary);
  }
  const pem = readFileSync(path, 'utf8');
  assertP256PrivateKey(pem, path);
  return { pem, path, created: false };
}

function generateP256Pem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** A key of the wrong kind would only fail at the first checkpoint signature: fail at start instead. */
function assertP256PrivateKey(pem: string, path: string): void {
  let details: { type: string; curve?: string };
  try {
    const key = createPrivateKey(pem);
    details = { type: key.asymmetricKeyType ?? 'unknown', curve: key.asymmetricKeyDetails?.namedCurve };
  } catch (error) {
    throw new Error(`${path} is not a PEM private key: delete it to let the sandbox create a new one`, {
      cause: error,
    });
  }
  if (details.type !== 'ec' || details.curve !== 'prime256v1') {
    throw new Error(
      `${path} holds a ${details.type}${details.curve ? ` ${details.curve}` : ''} key, not P-256: ` +
        'delete it to let the sandbox create a new one',
    );
  }
}
