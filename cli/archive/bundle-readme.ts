import { BUNDLE_FILES } from './bundle-format.ts';

/** The script an auditor runs by hand (README below); kept here so a test runs exactly this text. */
export const MANUAL_CHECK_SCRIPT = String.raw`import base64, hashlib, json, sys
line = json.loads(open('events.jsonl', encoding='utf-8').readlines()[int(sys.argv[1])])
rec, rc = line['record'], line['receipt']
# RFC 8785 canonical JSON; equal to this for records without fractional numbers or non-BMP keys
leaf = json.dumps(rec, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode('utf-8')
h = hashlib.sha256(b'\x00' + leaf).digest()
assert h.hex() == rc['leafHash'], 'leaf hash differs: the record is not the one that was logged'
origin, size, root = rc['checkpoint']['body'].split('\n')[:3]
fn, sn, r = rc['leafIndex'], int(size) - 1, h   # RFC 9162 section 2.1.3.2
for p in map(bytes.fromhex, rc['inclusionProof']):
    assert sn > 0, 'inclusion proof too long'
    if fn % 2 == 1 or fn == sn:
        r = hashlib.sha256(b'\x01' + p + r).digest()
        while fn % 2 == 0 and fn != 0:
            fn, sn = fn >> 1, sn >> 1
    else:
        r = hashlib.sha256(b'\x01' + r + p).digest()
    fn, sn = fn >> 1, sn >> 1
assert sn == 0 and r == base64.b64decode(root), 'inclusion proof does not reach the checkpoint root'
open('body.txt', 'wb').write(rc['checkpoint']['body'].encode('utf-8'))
open('sig.der', 'wb').write(base64.b64decode(rc['checkpoint']['signature']))
key = next(k for k in json.load(open('public-keys.json'))['keys'] if k['keyId'] == rc['checkpoint']['keyId'])
open('key.pem', 'w').write(key['publicKeyPem'])
print('leaf', rc['leafIndex'], 'of', origin, 'is in the tree of size', size, '- now check the signature with openssl')
`;

export function bundleReadme(options: {
  readonly from: string;
  readonly to: string;
  readonly tenant?: string;
}): string {
  return `# Audit trail evidence bundle

Events received from ${options.from} (inclusive) to ${options.to} (exclusive)${options.tenant ? ` for tenant \`${options.tenant}\`` : ''}.
Everything here can be checked offline, with no AWS access, using only the files in this directory.

| file | what it is |
| --- | --- |
| \`${BUNDLE_FILES.events}\` | one \`{"record", "receipt"}\` per line: the exact record that was logged and its signed receipt |
| \`${BUNDLE_FILES.checkpoints}\` | every append of each log these events are in, from leaf 0 to the latest archived checkpoint: signed checkpoint, previous checkpoint, frontiers and leaf hashes |
| \`${BUNDLE_FILES.keys}\` | public keys (PEM) of every key that signed a checkpoint |
| \`${BUNDLE_FILES.manifest}\` | range, counts, log heads, tool version, SHA-256 of every other file |

How the trail works: each record's RFC 8785 canonical JSON is a leaf of an RFC 6962 Merkle tree (one tree per
log); leaf hash = SHA-256(0x00 || leaf); after every append the log's state is a checkpoint
\`<origin>\\n<size>\\n<base64 root>\\n\` signed with ECDSA P-256 / SHA-256 (or RSA PKCS#1 v1.5 / SHA-256), the
signature over exactly those bytes.

## Verify with the audit-trail CLI

    npx audit-trail verify-archive ./this-directory

checks the manifest's hashes, every checkpoint's signature, that each append extends the one before (its root
recomputed from the previous frontier and its leaf hashes), and every receipt (leaf hash, inclusion proof,
signature) against that chain. It exits 0 only if everything holds, and otherwise names the first failure
(log, leaf, event). One event alone: \`audit-trail verify-receipt --event event.json --receipt receipt.json
--public-key ${BUNDLE_FILES.keys}\`.

## Verify by hand (Python 3 and OpenSSL)

Save this as \`check.py\` and run \`python3 check.py N\` for the event on line N (0-based) of \`${BUNDLE_FILES.events}\`:

\`\`\`python
${MANUAL_CHECK_SCRIPT}\`\`\`

then check the checkpoint's signature with the public key it names:

    openssl dgst -sha256 -verify key.pem -signature sig.der body.txt

which prints \`Verified OK\`. The same three steps in any language: hash the canonical record with a 0x00
prefix, fold the inclusion path into the root (RFC 9162 §2.1.3.2), verify the signature over the checkpoint
body. The chain in \`${BUNDLE_FILES.checkpoints}\` is checked the same way: for each line, start from
\`previousFrontier\`, add \`leafHashes\` (RFC 6962 tree hashing), compare the root with the signed
checkpoint, and check that \`previous\` is the line before's \`checkpoint\`.

What the bundle proves: each record is exactly what was logged, at that position, under checkpoints signed by
the keys above, and each checkpoint extends the one before. The manifest's hashes are a checksum list, not a
signature: completeness of the range is the exporter's statement, re-checkable against the archive.
`;
}
