import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eventLine, readEventLines, recordTextOf } from '#core/archive-layout.ts';
import { gzipDeterministic } from '#core/archiving.ts';
import { canonicalize } from '#core/canonical.ts';
import { topLevelIdValue } from '#core/json-scan.ts';
import { EventLinesReader } from '#core/line-kernel.ts';
import { leafHashHex } from '#core/merkle.ts';
import { hasTopLevelId } from '#core/verify-log.ts';
import { repeatsAPair } from '../../cli/archive/regular-archive.ts';

/**
 * The line kernel (line-kernel.ts, `checkLines` in json-scan.wat) reads the archiver's events lines in bulk.
 * It must accept exactly the archiver's line for each expected leaf and hash each record as stored; it may
 * refuse more than the full path does (the caller then takes the full path), never less.
 */
const ORIGIN = 'audit.example.com/acme/0';

interface Leaf {
  readonly leafIndex: number;
  readonly appendStart: number;
  readonly eventId: string;
  readonly recordText: string;
}

function leaves(appendStart: number, count: number, pad = 40): Leaf[] {
  return Array.from({ length: count }, (_, i) => {
    const eventId = `0000${appendStart}-${i}-4e5f-8a6b-${String(i).padStart(12, '0')}`;
    const record = {
      action: 'deployment.apply',
      actor: { id: `nested-${i}`, type: 'service' },
      change: { summary: `"quoted" \\ ${'x'.repeat(pad + i)} {"id":"planted"}` },
      id: eventId,
      resources: [{ id: 'arn:aws:s3:::b', type: 'bucket' }],
    };
    return { leafIndex: appendStart + i, appendStart, eventId, recordText: canonicalize(record) };
  });
}

const lineOf = (leaf: Leaf, storedHash = leafHashHex(Buffer.from(leaf.recordText))) =>
  eventLine(
    {
      appendStart: leaf.appendStart,
      eventId: leaf.eventId,
      leafHash: storedHash,
      leafIndex: leaf.leafIndex,
      origin: ORIGIN,
    },
    leaf.recordText,
  );

const objectOf = (lines: readonly string[]) => Buffer.from(lines.map((line) => `${line}\n`).join(''), 'utf8');

/** Reads an object's lines as the leaves of one append (start, ids); the hashes as hex, or false. */
function read(object: Uint8Array, start: number, ids: readonly string[], pieces = [ids.length]) {
  const reader = new EventLinesReader(ORIGIN);
  reader.load(object);
  const hashed = EventLinesReader.leavesFor(start, ids);
  let offset = 0;
  for (const count of pieces) {
    if (!reader.readLeaves(hashed, offset, count)) return false;
    offset += count;
  }
  return { hashes: hashed.hexHashes(), idHashes: [...hashed.idHashes], atEnd: reader.atEnd };
}

/** 64-bit FNV-1a of a string's UTF-8 bytes, as the kernel writes it: low word, high word. */
const fnv1a = (text: string): [number, number] => {
  let hash = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text, 'utf8'))
    hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return [Number(hash & 0xffffffffn), Number(hash >> 32n)];
};

describe('EventLinesReader', () => {
  const append = leaves(40, 6);
  const ids = append.map((leaf) => leaf.eventId);
  const object = objectOf(append.map((leaf) => lineOf(leaf)));

  it('reads the archiver lines of an append: each record hashed as stored, each id hashed', () => {
    expect(read(object, 40, ids)).toEqual({
      hashes: append.map((leaf) => leafHashHex(Buffer.from(leaf.recordText))),
      idHashes: ids.flatMap(fnv1a),
      atEnd: true,
    });
  });

  it('reads an append in pieces, as when its leaves span two events objects', () => {
    expect(read(object, 40, ids, [1, 3, 2])).toEqual(read(object, 40, ids));
    const reader = new EventLinesReader(ORIGIN);
    reader.load(object);
    expect(reader.readLeaves(EventLinesReader.leavesFor(40, ids), 0, 5)).toBe(true);
    expect(reader.atEnd).toBe(false);
  });

  it('refuses any line that is not the archiver line of the expected leaf', () => {
    const [first] = append as [Leaf];
    const rest = append.slice(1).map((leaf) => lineOf(leaf));
    const good = lineOf(first);
    const cases: Record<string, string> = {
      'another appendStart': lineOf({ ...first, appendStart: 41 }),
      'another leafIndex': lineOf({ ...first, leafIndex: 41 }),
      'a leafIndex with a leading zero': good.replace('"leafIndex":40', '"leafIndex":040'),
      'another event id': lineOf({ ...first, eventId: ids[1]! }),
      'another origin': good.replace(ORIGIN, 'audit.example.com/acme/1'),
      'a stored hash in capitals': lineOf(first, leafHashHex(Buffer.from(first.recordText)).toUpperCase()),
      'another stored hash': lineOf(first, 'ab'.repeat(32)),
      'a stored hash that is not hex': lineOf(first, 'zz'.repeat(32)),
      'a changed record byte': good.replace('deployment.apply', 'deployment.apple'),
      'a record whose id is another': lineOf({
        ...first,
        recordText: first.recordText.replace(ids[0]!, ids[1]!),
      }),
      'a record whose id is only nested': lineOf({
        ...first,
        recordText: canonicalize({ actor: { id: ids[0] }, eventId: ids[0] }),
      }),
      'a record whose id is not a string': lineOf({ ...first, recordText: `{"id":1,"x":"${ids[0]}"}` }),
      'a line without its closing brace': good.slice(0, -1),
      'spaces in the header': good.replace('"appendStart":40', '"appendStart": 40'),
    };
    expect(read(objectOf([good, ...rest]), 40, ids)).not.toBe(false);
    for (const [name, line] of Object.entries(cases)) {
      expect({ name, read: read(objectOf([line, ...rest]), 40, ids) }).toEqual({ name, read: false });
    }
  });

  it('refuses an object that ends inside a line, or without its last newline', () => {
    expect(read(object.subarray(0, object.length - 1), 40, ids)).toBe(false);
    expect(read(object.subarray(0, object.length - 200), 40, ids)).toBe(false);
  });

  it('refuses ids that JSON writes escaped, and an id list a quote would shift', () => {
    for (const eventId of ['with"quote', 'back\\slash', 'tab\there', 'café']) {
      const leaf = { ...append[0]!, eventId, recordText: canonicalize({ id: eventId }) };
      expect(read(objectOf([lineOf(leaf)]), 40, [eventId])).toBe(false);
    }
    // Lines and records for ids x and y, read as an append listing `x"y` and `z`: the joined list reads
    // x, y, z, so a reader that did not check where the list ends would take the lines for the append.
    const shifted = ['x', 'y'].map((eventId, i) =>
      lineOf({ leafIndex: 40 + i, appendStart: 40, eventId, recordText: canonicalize({ id: eventId }) }),
    );
    expect(read(objectOf(shifted), 40, ['x', 'y'])).not.toBe(false);
    expect(read(objectOf(shifted), 40, ['x"y', 'z'])).toBe(false);
  });

  it('accepts no changed byte that the reference reading refuses (seeded sample of every position)', () => {
    let tried = 0;
    let accepted = 0;
    fc.assert(
      fc.property(fc.nat(object.length - 1), fc.integer({ min: 1, max: 255 }), (at, delta) => {
        const changed = Buffer.from(object);
        changed[at] = (changed[at]! + delta) % 256;
        tried += 1;
        const kernel = read(changed, 40, ids) !== false;
        if (kernel) accepted += 1;
        if (kernel) expect(referenceAccepts(changed, 40, ids)).toBe(true);
      }),
      { numRuns: 3000, seed: 20261126 },
    );
    console.log(`[reliability] line kernel byte changes: tried=${tried} kernelAccepted=${accepted}`);
    expect(tried).toBe(3000);
  });

  it('accepts a record byte change with a matching stored hash only where the reference does', () => {
    let tried = 0;
    let accepted = 0;
    let referenceAccepted = 0;
    fc.assert(
      fc.property(
        fc.nat(append.length - 1),
        fc.nat(),
        fc.constantFrom(...'{}[]",:\\ix0'.split('')),
        (leafOffset, position, byte) => {
          const leaf = append[leafOffset]!;
          const at = position % leaf.recordText.length;
          const recordText = `${leaf.recordText.slice(0, at)}${byte}${leaf.recordText.slice(at + 1)}`;
          const lines = append.map((other) => lineOf(other === leaf ? { ...leaf, recordText } : other));
          const changed = objectOf(lines);
          tried += 1;
          const kernel = read(changed, 40, ids) !== false;
          const reference = referenceAccepts(changed, 40, ids);
          if (kernel) accepted += 1;
          if (reference) referenceAccepted += 1;
          if (kernel) expect(reference).toBe(true);
        },
      ),
      { numRuns: 2000, seed: 20261126 },
    );
    console.log(
      `[reliability] line kernel rehashed record changes: tried=${tried} kernelAccepted=${accepted} referenceAccepted=${referenceAccepted}`,
    );
    expect(accepted).toBeGreaterThan(0);
  });

  it('reads a gzipped object inflated in place as it reads the inflated bytes, even after others used the memory', () => {
    const reader = new EventLinesReader(ORIGIN);
    expect(reader.loadGzip(gzipDeterministic(object))).toBe(true);
    const hashed = EventLinesReader.leavesFor(40, ids);
    expect(reader.readLeaves(hashed, 0, 2)).toBe(true);
    // Another reader, then the id scan, write over the object: it is inflated again from its gzip bytes.
    const other = new EventLinesReader(ORIGIN);
    other.load(objectOf(leaves(0, 3, 900).map((leaf) => lineOf(leaf))));
    expect(topLevelIdValue(Buffer.from('{"a":1,"id":"x"}'))).toBe(12);
    expect(reader.readLeaves(hashed, 2, 4)).toBe(true);
    expect(reader.atEnd).toBe(true);
    expect(hashed.hexHashes()).toEqual(append.map((leaf) => leafHashHex(Buffer.from(leaf.recordText))));
  });

  it('loads nothing from a gzip object whose CRC does not hold', () => {
    const gzipped = Buffer.from(gzipDeterministic(object));
    gzipped[gzipped.length - 8] = gzipped[gzipped.length - 8]! ^ 0x01;
    const reader = new EventLinesReader(ORIGIN);
    reader.load(object);
    expect(reader.loadGzip(gzipped)).toBe(false);
    expect(reader.readLeaves(EventLinesReader.leavesFor(40, ids), 0, 1)).toBe(false);
    expect(reader.atEnd).toBe(true);
  });

  it('keeps its object while other callers use the shared memory, and grows it for large objects', () => {
    const large = leaves(0, 300, 600);
    const largeObject = objectOf(large.map((leaf) => lineOf(leaf)));
    expect(largeObject.length).toBeGreaterThan(4 * 65_536);
    const reader = new EventLinesReader(ORIGIN);
    reader.load(largeObject);
    const hashed = EventLinesReader.leavesFor(
      0,
      large.map((leaf) => leaf.eventId),
    );
    const other = new EventLinesReader(ORIGIN);
    for (let offset = 0; offset < 300; offset += 100) {
      expect(topLevelIdValue(Buffer.from('{"a":1,"id":"x"}'))).toBe(12);
      other.load(object);
      expect(other.readLeaves(EventLinesReader.leavesFor(40, ids), 0, ids.length)).toBe(true);
      expect(reader.readLeaves(hashed, offset, 100)).toBe(true);
    }
    expect(reader.atEnd).toBe(true);
    expect(hashed.hexHashes()).toEqual(large.map((leaf) => leafHashHex(Buffer.from(leaf.recordText))));
  });
});

/**
 * What the full path checks of a line, parsing it: the archiver's fields, the record's hash and its own id
 * (as LogVerifier checks a byte leaf: the id scan, or a parse of the record when the scan does not find it).
 */
function referenceAccepts(object: Uint8Array, start: number, ids: readonly string[]): boolean {
  let lines: ReturnType<typeof readEventLines>;
  try {
    lines = readEventLines(object);
  } catch {
    return false;
  }
  return (
    lines.length === ids.length &&
    lines.every((line, i) => {
      const ownId = hasTopLevelId(line.recordBytes, ids[i]!) || parsedId(recordTextOf(line)) === ids[i];
      return (
        line.appendStart === start &&
        line.leafIndex === start + i &&
        line.origin === ORIGIN &&
        line.eventId === ids[i] &&
        ownId &&
        line.leafHash === leafHashHex(line.recordBytes)
      );
    })
  );
}

function parsedId(text: string): unknown {
  try {
    return (JSON.parse(text) as { id?: unknown }).id;
  } catch {
    return undefined;
  }
}

describe('repeatsAPair', () => {
  const pairs = (values: readonly [number, number][]) => Uint32Array.from(values.flat());

  it('finds a repeated id hash, and none among distinct ones', () => {
    const hashes = Array.from({ length: 5000 }, (_, i) => fnv1a(`id-${i}`));
    expect(repeatsAPair(pairs(hashes))).toBe(false);
    expect(repeatsAPair(pairs([...hashes, fnv1a('id-4321')]))).toBe(true);
  });

  it('compares both words: equal low words or equal high words alone are no repeat', () => {
    expect(
      repeatsAPair(
        pairs([
          [7, 1],
          [7, 2],
          [8, 1],
          [9, 3],
        ]),
      ),
    ).toBe(false);
    expect(
      repeatsAPair(
        pairs([
          [7, 1],
          [7, 2],
          [7, 1],
        ]),
      ),
    ).toBe(true);
    expect(repeatsAPair(new Uint32Array(0))).toBe(false);
  });
});
