import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LocalSigner } from '#adapters/local-signer.ts';
import {
  CheckpointFormatError,
  formatCheckpointBody,
  parseCheckpointBody,
  rootHashHex,
  SignedCheckpoint,
} from '#core/checkpoint.ts';
import { fromHex } from '#core/merkle.ts';
import { keyMap, signCheckpoint, verifyCheckpointSignature, verifySignature } from '#core/signer.ts';

const ROOT_HEX = '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328';
const ROOT = fromHex(ROOT_HEX);
const ROOT_BASE64 = Buffer.from(ROOT).toString('base64');
const ORIGIN = 'audit.example.com/acme/0';

describe('checkpoint bodies (C2SP tlog-checkpoint)', () => {
  it('formats exactly `<origin>\\n<size>\\n<base64 root>\\n`', () => {
    expect(formatCheckpointBody({ origin: ORIGIN, size: 8, rootHash: ROOT })).toBe(
      `${ORIGIN}\n8\n${ROOT_BASE64}\n`,
    );
    expect(ROOT_BASE64).toBe('XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=');
  });

  it('parses what it formats, for any valid origin, size and root', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[\x21-\x7e]{1,256}$/),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (origin, size, rootHash) => {
          const parsed = parseCheckpointBody(formatCheckpointBody({ origin, size, rootHash }));
          expect(parsed.origin).toBe(origin);
          expect(parsed.size).toBe(size);
          expect(Buffer.from(parsed.rootHash).equals(Buffer.from(rootHash))).toBe(true);
        },
      ),
      { seed: 2024, numRuns: 500 },
    );
  });

  it('reports the root as lowercase hex', () => {
    expect(rootHashHex(parseCheckpointBody(`${ORIGIN}\n8\n${ROOT_BASE64}\n`))).toBe(ROOT_HEX);
  });

  it.each([
    ['an empty origin', ''],
    ['an origin with a space', 'audit example'],
    ['an origin with a newline', 'audit\nexample'],
    ['an origin with non-ASCII', 'audit.example.com/äcme'],
    ['an origin longer than 256 characters', 'a'.repeat(257)],
  ])('rejects formatting %s', (_name, origin) => {
    expect(() => formatCheckpointBody({ origin, size: 1, rootHash: ROOT })).toThrow(CheckpointFormatError);
  });

  it.each([
    ['a negative size', -1],
    ['a fractional size', 1.5],
    ['an unsafe size', 2 ** 53],
  ])('rejects formatting %s', (_name, size) => {
    expect(() => formatCheckpointBody({ origin: ORIGIN, size, rootHash: ROOT })).toThrow(
      CheckpointFormatError,
    );
  });

  it('rejects formatting a root that is not 32 bytes', () => {
    expect(() => formatCheckpointBody({ origin: ORIGIN, size: 1, rootHash: ROOT.slice(1) })).toThrow(
      '32 bytes',
    );
  });

  it.each([
    ['no trailing newline', `${ORIGIN}\n8\n${ROOT_BASE64}`],
    ['an extension line', `${ORIGIN}\n8\n${ROOT_BASE64}\nextra\n`],
    ['CRLF line ends', `${ORIGIN}\r\n8\r\n${ROOT_BASE64}\r\n`],
    ['a size with a leading zero', `${ORIGIN}\n08\n${ROOT_BASE64}\n`],
    ['a signed size', `${ORIGIN}\n+8\n${ROOT_BASE64}\n`],
    ['a size beyond 2^53 - 1', `${ORIGIN}\n9007199254740993\n${ROOT_BASE64}\n`],
    ['a root without padding', `${ORIGIN}\n8\n${ROOT_BASE64.slice(0, -1)}\n`],
    ['a URL-safe base64 root', `${ORIGIN}\n8\n${Buffer.from(ROOT).toString('base64url')}=\n`],
    ['a hex root', `${ORIGIN}\n8\n${ROOT_HEX}\n`],
    ['a 33-byte root', `${ORIGIN}\n8\n${Buffer.alloc(33).toString('base64')}\n`],
    ['an origin with a space', `audit example\n8\n${ROOT_BASE64}\n`],
    ['an empty body', ''],
  ])('rejects parsing a body with %s', (_name, body) => {
    expect(() => parseCheckpointBody(body)).toThrow(CheckpointFormatError);
  });

  it('rejects parsing a root whose base64 is not canonical (unused low bits set), so one root has one body', () => {
    // 32 bytes leave 2 unused bits in the last base64 digit; `...Qyg=` and `...Qyh=` decode to the same bytes.
    const nonCanonical = `${ROOT_BASE64.slice(0, -2)}h=`;
    expect(Buffer.from(nonCanonical, 'base64').equals(Buffer.from(ROOT))).toBe(true);
    expect(() => parseCheckpointBody(`${ORIGIN}\n8\n${nonCanonical}\n`)).toThrow(CheckpointFormatError);
  });
});

describe('checkpoint signatures', () => {
  const p256 = LocalSigner.generate('p256');
  const rsa = LocalSigner.generate('rsa2048');
  const body = formatCheckpointBody({ origin: ORIGIN, size: 8, rootHash: ROOT });

  it.each([
    ['P-256 (ECDSA_SHA_256, DER)', p256, 'ECDSA_SHA_256'],
    ['RSA 2048 (RSASSA_PKCS1_V1_5_SHA_256)', rsa, 'RSASSA_PKCS1_V1_5_SHA_256'],
  ] as const)(
    'signs a body with a %s key so that the PEM public key alone verifies it',
    async (_name, signer, algorithm) => {
      const checkpoint = await signCheckpoint(signer, body);
      expect(SignedCheckpoint.parse(checkpoint)).toEqual(checkpoint);
      expect(checkpoint).toMatchObject({ body, keyId: signer.keyId, algorithm });
      const keys = keyMap([await signer.publicKey()]);
      expect(verifyCheckpointSignature(checkpoint, keys)).toEqual({ ok: true });
    },
  );

  it('produces DER-encoded ECDSA signatures (SEQUENCE of two INTEGERs), as KMS does', async () => {
    const { signature } = await p256.sign(new TextEncoder().encode(body));
    expect(signature[0]).toBe(0x30);
    expect(signature[1]).toBe(signature.length - 2);
    expect(signature.length).toBeGreaterThanOrEqual(8);
    expect(signature.length).toBeLessThanOrEqual(72);
  });

  it('fails when the body changes by one byte', async () => {
    const checkpoint = await signCheckpoint(p256, body);
    const keys = keyMap([await p256.publicKey()]);
    const tampered = { ...checkpoint, body: body.replace('\n8\n', '\n9\n') };
    expect(verifyCheckpointSignature(tampered, keys)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('does not verify'),
    });
  });

  it('fails for an unknown key id', async () => {
    const checkpoint = await signCheckpoint(p256, body);
    const keys = keyMap([await rsa.publicKey()]);
    expect(verifyCheckpointSignature(checkpoint, keys)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('no public key'),
    });
  });

  it('fails when the checkpoint names another algorithm than the key has', async () => {
    const checkpoint = await signCheckpoint(p256, body);
    const keys = keyMap([await p256.publicKey()]);
    const relabelled = { ...checkpoint, algorithm: 'RSASSA_PKCS1_V1_5_SHA_256' as const };
    expect(verifyCheckpointSignature(relabelled, keys)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('signs with'),
    });
  });

  it('fails when a key is registered under the wrong algorithm for its type', async () => {
    const message = new TextEncoder().encode(body);
    const { signature } = await p256.sign(message);
    const ecPem = (await p256.publicKey()).publicKeyPem;
    const rsaPem = (await rsa.publicKey()).publicKeyPem;
    expect(verifySignature(ecPem, 'ECDSA_SHA_256', message, signature)).toBe(true);
    expect(verifySignature(ecPem, 'RSASSA_PKCS1_V1_5_SHA_256', message, signature)).toBe(false);
    expect(verifySignature(rsaPem, 'ECDSA_SHA_256', message, signature)).toBe(false);
  });

  it('fails, without throwing, for malformed or truncated signatures', async () => {
    const message = new TextEncoder().encode(body);
    const ecPem = (await p256.publicKey()).publicKeyPem;
    const rsaPem = (await rsa.publicKey()).publicKeyPem;
    const { signature } = await p256.sign(message);
    expect(verifySignature(ecPem, 'ECDSA_SHA_256', message, signature.slice(0, -1))).toBe(false);
    expect(verifySignature(ecPem, 'ECDSA_SHA_256', message, new Uint8Array())).toBe(false);
    expect(verifySignature(ecPem, 'ECDSA_SHA_256', message, Uint8Array.of(0x30, 0x00))).toBe(false);
    expect(verifySignature(rsaPem, 'RSASSA_PKCS1_V1_5_SHA_256', message, new Uint8Array(255))).toBe(false);
  });

  it('fails for any single flipped bit of a P-256 signature', async () => {
    const message = new TextEncoder().encode(body);
    const pem = (await p256.publicKey()).publicKeyPem;
    const { signature } = await p256.sign(message);
    fc.assert(
      fc.property(fc.nat(signature.length * 8 - 1), (bit) => {
        const tampered = new Uint8Array(signature);
        tampered[bit >> 3]! ^= 1 << (bit & 7);
        expect(verifySignature(pem, 'ECDSA_SHA_256', message, tampered)).toBe(false);
      }),
      { seed: 256, numRuns: 200 },
    );
  });

  it('gives each local key a stable key id derived from its public key', () => {
    expect(LocalSigner.fromPem(p256.privateKeyPem()).keyId).toBe(p256.keyId);
    expect(p256.keyId).toMatch(/^local:p256:[0-9a-f]{32}$/);
    expect(rsa.keyId).toMatch(/^local:rsa:[0-9a-f]{32}$/);
  });

  it('rejects a local key on a curve other than P-256', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    expect(() => new LocalSigner(privateKey)).toThrow('P-256');
  });

  it('rejects a request for another key id from a local signer', async () => {
    await expect(p256.publicKey('local:p256:other')).rejects.toThrow('not local:p256:other');
  });
});
