import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LocalSigner } from '#adapters/local-signer.ts';
import { canonicalize } from '#core/canonical.ts';
import { formatCheckpointBody } from '#core/checkpoint.ts';
import { CompactRange, leafHash, PartialTree, toBase64 } from '#core/merkle.ts';
import { buildReceipt, Receipt, type ReceiptCheck, verifyReceipt } from '#core/receipt.ts';
import { buildRecord } from '#core/record.ts';
import { keyMap, signCheckpoint } from '#core/signer.ts';
import { makeEvent } from '../support/events.ts';

const ORIGIN = 'audit.example.com/acme/0';
const encoder = new TextEncoder();

/**
 * A log whose earlier part is known only by its frontier (as an appender sees it), then `count` records
 * appended in one signed checkpoint; returns every record (canonical JSON) with its receipt.
 */
async function appendedLog(signer: LocalSigner, count: number, start = 5) {
  const earlier = Array.from({ length: start }, (_, i) => leafHash(encoder.encode(`earlier ${i}`)));
  const before = CompactRange.empty();
  for (const leaf of earlier) before.append(leaf);
  const records = Array.from({ length: count }, (_, i) =>
    canonicalize(
      buildRecord(makeEvent(`receipt-${i}`), {
        tenant: 'acme',
        receivedAt: '2026-01-31T12:00:01.000Z',
        caller: {
          principalArn: 'arn:aws:sts::123456789012:assumed-role/Deployer/ci',
          accountId: '123456789012',
          sourceIp: '10.0.0.1',
        },
      }),
    ),
  );
  const leaves = records.map((record) => leafHash(encoder.encode(record)));
  const tree = new PartialTree(start, before.frontier, leaves);
  const checkpoint = await signCheckpoint(
    signer,
    formatCheckpointBody({ origin: ORIGIN, size: start + count, rootHash: tree.root() }),
  );
  const receipts = records.map((record, i) =>
    buildReceipt({
      eventId: JSON.parse(record).id,
      origin: ORIGIN,
      leafIndex: start + i,
      leafHash: leaves[i]!,
      inclusionProof: tree.inclusionProof(start + i),
      checkpoint,
    }),
  );
  return { records, receipts, keys: keyMap([await signer.publicKey()]) };
}

const failedCheck = (result: ReceiptCheck) => (result.ok ? 'ok' : result.check);

const flipHexDigit = (hex: string, position = 0) =>
  hex.slice(0, position) + (hex[position] === '0' ? '1' : '0') + hex.slice(position + 1);

describe.each([
  ['P-256', LocalSigner.generate('p256')],
  ['RSA 2048', LocalSigner.generate('rsa2048')],
] as const)('receipts signed with a %s key', (_name, signer) => {
  it('verify for every record of an append, with nothing but the public key', async () => {
    const { records, receipts, keys } = await appendedLog(signer, 7);
    receipts.forEach((receipt, i) => {
      expect(Receipt.parse(receipt)).toEqual(receipt);
      expect(verifyReceipt(records[i]!, receipt, keys)).toEqual({ ok: true });
      expect(verifyReceipt(JSON.parse(records[i]!), JSON.parse(JSON.stringify(receipt)), keys)).toEqual({
        ok: true,
      });
    });
  });

  it('verify a record given as non-canonical JSON text: it is re-canonicalized', async () => {
    const { records, receipts, keys } = await appendedLog(signer, 2);
    const pretty = JSON.stringify(
      Object.fromEntries(Object.entries(JSON.parse(records[1]!)).reverse()),
      null,
      2,
    );
    expect(verifyReceipt(pretty, receipts[1], keys)).toEqual({ ok: true });
  });

  it('have exactly the keys DESIGN.md lists', async () => {
    const { receipts } = await appendedLog(signer, 1);
    const receipt = receipts[0]!;
    expect(Object.keys(receipt).sort()).toEqual([
      'checkpoint',
      'eventId',
      'inclusionProof',
      'leafHash',
      'leafIndex',
      'origin',
      'version',
    ]);
    expect(Object.keys(receipt.checkpoint).sort()).toEqual(['algorithm', 'body', 'keyId', 'signature']);
    expect(receipt.version).toBe(1);
    expect(receipt.checkpoint.body).toMatch(new RegExp(`^${ORIGIN}\\n6\\n[A-Za-z0-9+/]{43}=\\n$`));
  });

  describe('fail on tampering', () => {
    it('fails when any one character of the record changes (leaf-hash, or format / event-id if it breaks those)', async () => {
      const { records, receipts, keys } = await appendedLog(signer, 3);
      const record = records[2]!;
      const idStart = record.indexOf(receipts[2]!.eventId);
      fc.assert(
        fc.property(
          fc.nat(record.length - 1),
          fc.constantFrom('a', 'Z', '0', '9', ' ', '"', '{', ',', 'é'),
          (position, replacement) => {
            fc.pre(record[position] !== replacement);
            const tampered = record.slice(0, position) + replacement + record.slice(position + 1);
            const result = verifyReceipt(tampered, receipts[2], keys);
            expect(result.ok).toBe(false);
            // Breaking the JSON is a format failure, touching `"id":"…"` an event-id failure, anything else the leaf hash.
            const inId = position >= idStart - 6 && position < idStart + 36;
            expect(failedCheck(result)).toMatch(inId ? /^(format|event-id)$/ : /^(format|leaf-hash)$/);
          },
        ),
        { seed: 8785, numRuns: 400 },
      );
    });

    it('fails leaf-hash when the record gains a field', async () => {
      const { records, receipts, keys } = await appendedLog(signer, 1);
      expect(
        failedCheck(verifyReceipt({ ...JSON.parse(records[0]!), note: 'added later' }, receipts[0], keys)),
      ).toBe('leaf-hash');
    });

    it('fails leaf-hash when the receipt names another leaf hash', async () => {
      const { records, receipts, keys } = await appendedLog(signer, 1);
      const receipt = { ...receipts[0]!, leafHash: flipHexDigit(receipts[0]!.leafHash, 10) };
      expect(failedCheck(verifyReceipt(records[0]!, receipt, keys))).toBe('leaf-hash');
    });

    it('fails event-id when the receipt is for another event', async () => {
      const { records, receipts, keys } = await appendedLog(signer, 2);
      expect(failedCheck(verifyReceipt(records[0]!, receipts[1], keys))).toBe('event-id');
      expect(
        failedCheck(verifyReceipt(records[0]!, { ...receipts[0]!, eventId: receipts[1]!.eventId }, keys)),
      ).toBe('event-id');
    });

    it('fails inclusion when any proof element changes, or one is dropped or added', async () => {
      const { records, receipts, keys } = await appendedLog(signer, 4);
      const receipt = receipts[1]!;
      receipt.inclusionProof.forEach((_, which) => {
        for (const position of [0, 31, 63]) {
          const inclusionProof = receipt.inclusionProof.map((hash, i) =>
            i === which ? flipHexDigit(hash, position) : hash,
          );
          expect(failedCheck(verifyReceipt(records[1]!, { ...receipt, inclusionProof }, keys))).toBe(
            'inclusion',
          );
        }
      });
      expect(
        failedCheck(
          verifyReceipt(records[1]!, { ...receipt, inclusionProof: receipt.inclusionProof.slice(1) }, keys),
        ),
      ).toBe('inclusion');
      expect(
        failedCheck(
          verifyReceipt(
            records[1]!,
            { ...receipt, inclusionProof: [...receipt.inclusionProof, receipt.leafHash] },
            keys,
          ),
        ),
      ).toBe('inclusion');
    });

    it('fails inclusion when the leaf index changes', async () => {
      const { records, receipts, keys } = await appendedLog(signer, 4);
      for (const leafIndex of [receipts[1]!.leafIndex - 1, receipts[1]!.leafIndex + 1, 0, 8, 9, 1000]) {
        expect(failedCheck(verifyReceipt(records[1]!, { ...receipts[1]!, leafIndex }, keys))).toBe(
          'inclusion',
        );
      }
    });

    it('fails inclusion when the checkpoint root changes', async () => {
      const { records, receipts, keys } = await appendedLog(signer, 3);
      const otherRoot = toBase64(leafHash(encoder.encode('other')));
      const body = receipts[0]!.checkpoint.body.replace(/\n[^\n]+\n$/, `\n${otherRoot}\n`);
      expect(
        failedCheck(
          verifyReceipt(
            records[0]!,
            { ...receipts[0]!, checkpoint: { ...receipts[0]!.checkpoint, body } },
            keys,
          ),
        ),
      ).toBe('inclusion');
    });

    it('fails when the checkpoint size changes: inclusion if the proof no longer fits, else the signature', async () => {
      // Leaf 0 of a 4-leaf log: its path has the same shape in a tree of 3, so only the signature catches size 3.
      const { records, receipts, keys } = await appendedLog(signer, 4, 0);
      const withSize = (size: number) => {
        const body = receipts[0]!.checkpoint.body.replace('\n4\n', `\n${size}\n`);
        return verifyReceipt(
          records[0]!,
          { ...receipts[0]!, checkpoint: { ...receipts[0]!.checkpoint, body } },
          keys,
        );
      };
      expect(failedCheck(withSize(5))).toBe('inclusion');
      expect(failedCheck(withSize(3))).toBe('signature');
      expect(failedCheck(withSize(1))).toBe('inclusion');
    });

    it('fails checkpoint when the body names another origin than the receipt', async () => {
      const { records, receipts, keys } = await appendedLog(signer, 1);
      const body = receipts[0]!.checkpoint.body.replace(ORIGIN, 'audit.example.com/other/0');
      expect(
        failedCheck(
          verifyReceipt(
            records[0]!,
            { ...receipts[0]!, checkpoint: { ...receipts[0]!.checkpoint, body } },
            keys,
          ),
        ),
      ).toBe('checkpoint');
    });

    it('fails signature when the origin is changed consistently in receipt and body', async () => {
      const { records, receipts, keys } = await appendedLog(signer, 1);
      const origin = 'audit.example.com/other/0';
      const body = receipts[0]!.checkpoint.body.replace(ORIGIN, origin);
      const receipt = { ...receipts[0]!, origin, checkpoint: { ...receipts[0]!.checkpoint, body } };
      expect(failedCheck(verifyReceipt(records[0]!, receipt, keys))).toBe('signature');
    });

    it('fails checkpoint when the body is not a checkpoint', async () => {
      const { records, receipts, keys } = await appendedLog(signer, 1);
      for (const body of [
        'garbage',
        `${receipts[0]!.checkpoint.body}extension line\n`,
        receipts[0]!.checkpoint.body.trimEnd(),
      ]) {
        expect(
          failedCheck(
            verifyReceipt(
              records[0]!,
              { ...receipts[0]!, checkpoint: { ...receipts[0]!.checkpoint, body } },
              keys,
            ),
          ),
        ).toBe('checkpoint');
      }
    });

    it('fails signature when any byte of the signature changes', async () => {
      const { records, receipts, keys } = await appendedLog(signer, 1);
      const signature = Buffer.from(receipts[0]!.checkpoint.signature, 'base64');
      for (let i = 0; i < signature.length; i += 7) {
        const tampered = Buffer.from(signature);
        tampered[i]! ^= 0x01;
        const checkpoint = { ...receipts[0]!.checkpoint, signature: tampered.toString('base64') };
        expect(failedCheck(verifyReceipt(records[0]!, { ...receipts[0]!, checkpoint }, keys))).toBe(
          'signature',
        );
      }
    });

    it('fails signature for a key id it has no public key for', async () => {
      const { records, receipts } = await appendedLog(signer, 1);
      const result = verifyReceipt(
        records[0]!,
        receipts[0],
        keyMap([await LocalSigner.generate('p256').publicKey()]),
      );
      expect(result).toMatchObject({
        ok: false,
        check: 'signature',
        reason: expect.stringContaining('no public key'),
      });
    });

    it('fails signature when the checkpoint names another known key', async () => {
      const { records, receipts, keys } = await appendedLog(signer, 1);
      const other = LocalSigner.generate(signer.algorithm === 'ECDSA_SHA_256' ? 'p256' : 'rsa2048');
      const both = keyMap([...keys.values(), await other.publicKey()]);
      const checkpoint = { ...receipts[0]!.checkpoint, keyId: other.keyId };
      expect(failedCheck(verifyReceipt(records[0]!, { ...receipts[0]!, checkpoint }, both))).toBe(
        'signature',
      );
    });

    it('fails signature when the checkpoint names the wrong algorithm', async () => {
      const { records, receipts, keys } = await appendedLog(signer, 1);
      const algorithm = signer.algorithm === 'ECDSA_SHA_256' ? 'RSASSA_PKCS1_V1_5_SHA_256' : 'ECDSA_SHA_256';
      const checkpoint = { ...receipts[0]!.checkpoint, algorithm };
      expect(verifyReceipt(records[0]!, { ...receipts[0]!, checkpoint }, keys)).toMatchObject({
        ok: false,
        check: 'signature',
        reason: expect.stringContaining('signs with'),
      });
    });

    it('fails signature when the key is registered with the wrong algorithm for its type', async () => {
      const { records, receipts, keys } = await appendedLog(signer, 1);
      const algorithm = signer.algorithm === 'ECDSA_SHA_256' ? 'RSASSA_PKCS1_V1_5_SHA_256' : 'ECDSA_SHA_256';
      const key = { ...keys.get(signer.keyId)!, algorithm } as const;
      const checkpoint = { ...receipts[0]!.checkpoint, algorithm };
      expect(failedCheck(verifyReceipt(records[0]!, { ...receipts[0]!, checkpoint }, keyMap([key])))).toBe(
        'signature',
      );
    });
  });
});

describe('malformed receipts and records', () => {
  const signer = LocalSigner.generate('p256');

  it.each([
    ['a missing field', (r: Receipt) => ({ ...r, leafHash: undefined })],
    ['an unknown field', (r: Receipt) => ({ ...r, note: 'x' })],
    ['an unknown checkpoint field', (r: Receipt) => ({ ...r, checkpoint: { ...r.checkpoint, note: 'x' } })],
    ['version 2', (r: Receipt) => ({ ...r, version: 2 })],
    ['an uppercase hex leaf hash', (r: Receipt) => ({ ...r, leafHash: r.leafHash.toUpperCase() })],
    ['a short proof element', (r: Receipt) => ({ ...r, inclusionProof: [r.leafHash.slice(2)] })],
    ['a negative leaf index', (r: Receipt) => ({ ...r, leafIndex: -1 })],
    ['a fractional leaf index', (r: Receipt) => ({ ...r, leafIndex: 0.5 })],
    ['a string leaf index', (r: Receipt) => ({ ...r, leafIndex: '5' })],
    [
      'an unknown algorithm',
      (r: Receipt) => ({ ...r, checkpoint: { ...r.checkpoint, algorithm: 'ED25519' } }),
    ],
    [
      'a signature that is not base64',
      (r: Receipt) => ({ ...r, checkpoint: { ...r.checkpoint, signature: 'not base64!' } }),
    ],
  ])('fails format for a receipt with %s', async (_name, mutate) => {
    const { records, receipts, keys } = await appendedLog(signer, 1);
    expect(failedCheck(verifyReceipt(records[0]!, mutate(receipts[0]!), keys))).toBe('format');
  });

  it.each([null, undefined, 'receipt', 42, []])(
    'fails format, without throwing, for the receipt %j',
    async (receipt) => {
      const { records, keys } = await appendedLog(signer, 1);
      expect(failedCheck(verifyReceipt(records[0]!, receipt, keys))).toBe('format');
    },
  );

  it.each([
    ['text that is not JSON', '{"id":'],
    ['JSON null', 'null'],
    ['a JSON array', '[]'],
    ['a JSON string', '"record"'],
    ['a lone surrogate escape (no canonical form)', null],
  ])('fails format, without throwing, for a record that is %s', async (_name, text) => {
    const { records, receipts, keys } = await appendedLog(signer, 1);
    const record = text ?? records[0]!.replace('"deployment.apply"', '"\\ud800"');
    expect(failedCheck(verifyReceipt(record, receipts[0], keys))).toBe('format');
  });
});
