import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CompactRange,
  EMPTY_ROOT,
  frontierLength,
  frontierSizes,
  type Hash,
  inclusionProofFromLeaves,
  leafHash,
  leafHashHex,
  nodeHash,
  PartialTree,
  rootFromInclusionProof,
  verifyInclusion,
} from '#core/merkle.ts';

// ---------------------------------------------------------------------------------------------------------
// An independent, deliberately naive RFC 9162 §2.1 implementation: recursive MTH and PATH, own hashing.

const sha256 = (...parts: Uint8Array[]) =>
  new Uint8Array(createHash('sha256').update(Buffer.concat(parts)).digest());
const naiveLeafHash = (data: Uint8Array) => sha256(Uint8Array.of(0), data);
const naiveNodeHash = (left: Uint8Array, right: Uint8Array) => sha256(Uint8Array.of(1), left, right);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const unhex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));

/** The largest power of two smaller than n (n > 1). */
function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Naive tree over `leafHashes`, with MTH(D[lo:hi]) memoised (MTH of a range does not depend on n). */
class NaiveTree {
  private readonly memo = new Map<string, Uint8Array>();
  constructor(private readonly leafHashes: readonly Uint8Array[]) {}

  /** MTH(D[lo:hi]), RFC 9162 §2.1.1. */
  mth(lo: number, hi: number): Uint8Array {
    if (hi === lo) return sha256();
    if (hi - lo === 1) return this.leafHashes[lo]!;
    const key = `${lo}:${hi}`;
    let hash = this.memo.get(key);
    if (!hash) {
      const k = largestPowerOfTwoBelow(hi - lo);
      hash = naiveNodeHash(this.mth(lo, lo + k), this.mth(lo + k, hi));
      this.memo.set(key, hash);
    }
    return hash;
  }

  /** PATH(m, D[lo:hi]), RFC 9162 §2.1.3.1, leaf-first. */
  path(m: number, lo: number, hi: number): Uint8Array[] {
    if (hi - lo <= 1) return [];
    const k = largestPowerOfTwoBelow(hi - lo);
    return m < k
      ? [...this.path(m, lo, lo + k), this.mth(lo + k, hi)]
      : [...this.path(m - k, lo + k, hi), this.mth(lo, lo + k)];
  }

  /** Roots of the perfect subtrees covering [0, size), left to right. */
  frontier(size: number): Uint8Array[] {
    const hashes: Uint8Array[] = [];
    for (let lo = 0; lo < size; ) {
      let width = 1;
      while (width * 2 <= size - lo) width *= 2;
      hashes.push(this.mth(lo, lo + width));
      lo += width;
    }
    return hashes;
  }
}

const MAX_SIZE = 300;
const leafData = Array.from({ length: MAX_SIZE + 2 }, (_, i) => Buffer.from(`leaf ${i}`));
const leaves = leafData.map(naiveLeafHash);
const naive = new NaiveTree(leaves);

const flipBit = (bytes: Uint8Array, bit: number) => {
  const copy = new Uint8Array(bytes);
  copy[Math.floor(bit / 8) % copy.length]! ^= 1 << (bit % 8);
  return copy;
};

const sameHashes = (a: readonly Uint8Array[], b: readonly Uint8Array[]) =>
  a.length === b.length && a.every((hash, i) => Buffer.compare(hash, b[i]!) === 0);

/** Naive audit paths, computed once per (size, index). */
const naivePaths = new Map<string, Uint8Array[]>();
const naivePath = (index: number, size: number) => {
  const key = `${index}/${size}`;
  let path = naivePaths.get(key);
  if (!path) {
    path = naive.path(index, 0, size);
    naivePaths.set(key, path);
  }
  return path;
};

// ---------------------------------------------------------------------------------------------------------
// Certificate Transparency reference data (merkle_tree_test / transparency-dev/merkle testdata).

const CT_LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map(unhex);
const CT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
/** [leaf index (0-based), tree size, audit path]. CT numbers leaves from 1: these are its leaves 1/8, 6/8, 3/3, 2/5. */
const CT_INCLUSION: [number, number, string[]][] = [
  [
    0,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    5,
    8,
    [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [2, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [
    1,
    5,
    [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
];

describe('RFC 6962 hashing against the Certificate Transparency reference data', () => {
  const ctLeafHashes = CT_LEAVES.map(leafHash);
  const ctNaive = new NaiveTree(CT_LEAVES.map(naiveLeafHash));

  it('hashes the empty tree as SHA-256 of nothing', () => {
    expect(hex(EMPTY_ROOT)).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hex(CompactRange.empty().root())).toBe(hex(EMPTY_ROOT));
    expect(hex(new PartialTree(0, [], []).root())).toBe(hex(EMPTY_ROOT));
  });

  it('domain-separates leaves (0x00) from interior nodes (0x01)', () => {
    expect(hex(leafHash(new Uint8Array()))).toBe(CT_ROOTS[0]);
    expect(hex(nodeHash(ctLeafHashes[0]!, ctLeafHashes[1]!))).toBe(CT_ROOTS[1]);
    expect(hex(leafHash(Uint8Array.of(1, ...ctLeafHashes[0]!, ...ctLeafHashes[1]!)))).not.toBe(CT_ROOTS[1]);
  });

  it.each(CT_ROOTS.map((root, i) => [i + 1, root] as const))(
    'computes the root of the first %i CT leaves with CompactRange',
    (size, root) => {
      const range = CompactRange.empty();
      for (const leaf of ctLeafHashes.slice(0, size)) range.append(leaf);
      expect(range.size).toBe(size);
      expect(hex(range.root())).toBe(root);
    },
  );

  it.each(CT_ROOTS.map((root, i) => [i + 1, root] as const))(
    'computes the root of the first %i CT leaves with PartialTree from every split point',
    (size, root) => {
      for (let start = 0; start <= size; start++) {
        const tree = new PartialTree(start, ctNaive.frontier(start), ctLeafHashes.slice(start, size));
        expect(hex(tree.root()), `start ${start}`).toBe(root);
      }
      expect(hex(ctNaive.mth(0, size))).toBe(root);
    },
  );

  it.each(CT_INCLUSION)('produces the CT audit path of leaf %i in a tree of %i', (index, size, expected) => {
    const proof = inclusionProofFromLeaves(ctLeafHashes, index, size);
    expect(proof.map(hex)).toEqual(expected);
    expect(ctNaive.path(index, 0, size).map(hex)).toEqual(expected);
    expect(verifyInclusion(ctLeafHashes[index]!, index, size, proof, unhex(CT_ROOTS[size - 1]!))).toBe(true);
  });

  it('gives a one-leaf tree an empty proof whose root is the leaf hash', () => {
    expect(inclusionProofFromLeaves(ctLeafHashes, 0, 1)).toEqual([]);
    expect(verifyInclusion(ctLeafHashes[0]!, 0, 1, [], unhex(CT_ROOTS[0]!))).toBe(true);
  });
});

describe('leafHashHex', () => {
  it('is the hex of leafHash for leaves of any length, before and after its buffer grows', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (leaf) => {
        expect(leafHashHex(leaf)).toBe(hex(leafHash(leaf)));
      }),
      { numRuns: 500 },
    );
    const large = new Uint8Array(10_000).fill(7);
    expect(leafHashHex(large)).toBe(hex(leafHash(large)));
    for (const length of [0, 1, 63, 4095, 4096, 9_999]) {
      const leaf = large.subarray(0, length);
      expect(leafHashHex(leaf)).toBe(hex(leafHash(leaf)));
    }
  });
});

describe('CompactRange', () => {
  it(`has the naive root after every append up to ${MAX_SIZE} leaves`, () => {
    const range = CompactRange.empty();
    for (let size = 1; size <= MAX_SIZE; size++) {
      range.append(leaves[size - 1]!);
      expect(hex(range.root())).toBe(hex(naive.mth(0, size)));
      expect(range.frontier.map(hex)).toEqual(naive.frontier(size).map(hex));
    }
  });

  it('resumes from a stored frontier at every size and keeps agreeing with the naive tree', () => {
    for (let size = 0; size <= MAX_SIZE - 2; size++) {
      const resumed = CompactRange.from(size, naive.frontier(size));
      resumed.append(leaves[size]!);
      resumed.append(leaves[size + 1]!);
      expect(hex(resumed.root()), `size ${size}`).toBe(hex(naive.mth(0, size + 2)));
    }
  });

  it('appends hex leaves in batches exactly as it appends them one by one, from any size', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX_SIZE - 1 }),
        fc.integer({ min: 0, max: 40 }),
        (start, count) => {
          const batch = leaves.slice(start, Math.min(MAX_SIZE, start + count));
          const resumed = CompactRange.from(start, naive.frontier(start));
          resumed.appendHex(batch.map(hex));
          const size = start + batch.length;
          expect(resumed.size).toBe(size);
          expect(hex(resumed.root())).toBe(hex(naive.mth(0, size)));
          expect(resumed.frontier.map(hex)).toEqual(naive.frontier(size).map(hex));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('appends packed leaf hashes as append does, from aligned and unaligned arrays', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX_SIZE - 1 }),
        fc.integer({ min: 1, max: 70 }),
        fc.integer({ min: 0, max: 3 }),
        (start, count, misalignment) => {
          const batch = leaves.slice(start, Math.min(MAX_SIZE, start + count));
          const packed = new Uint8Array(misalignment + 32 * batch.length).subarray(misalignment);
          for (const [i, leaf] of batch.entries()) packed.set(leaf, 32 * i);
          const resumed = CompactRange.from(start, naive.frontier(start));
          resumed.appendPacked(packed);
          const size = start + batch.length;
          expect(hex(resumed.root())).toBe(hex(naive.mth(0, size)));
          expect(resumed.frontier.map(hex)).toEqual(naive.frontier(size).map(hex));
        },
      ),
      { numRuns: 300 },
    );
    expect(() => CompactRange.empty().appendPacked(new Uint8Array(33))).toThrow(RangeError);
  });

  it('refuses a hex leaf that is not 32 bytes of hex, appending nothing', () => {
    for (const bad of ['ab', 'zz'.repeat(32), `${'ab'.repeat(31)}a`, 'AB'.repeat(33)]) {
      const range = CompactRange.from(3, naive.frontier(3));
      expect(() => range.appendHex([bad])).toThrow(RangeError);
      expect(range.size).toBe(3);
      expect(hex(range.root())).toBe(hex(naive.mth(0, 3)));
    }
  });

  it('keeps clones independent of the original', () => {
    const range = CompactRange.from(3, naive.frontier(3));
    const clone = range.clone();
    clone.append(leaves[3]!);
    expect(range.size).toBe(3);
    expect(hex(range.root())).toBe(hex(naive.mth(0, 3)));
    expect(hex(clone.root())).toBe(hex(naive.mth(0, 4)));
  });

  it.each([
    [0, 1],
    [1, 0],
    [3, 1],
    [4, 2],
    [7, 2],
    [8, 2],
  ])('rejects a frontier of the wrong length for size %i (got %i hashes)', (size, count) => {
    expect(() => CompactRange.from(size, leaves.slice(0, count))).toThrow(RangeError);
  });

  it.each([-1, 1.5, Number.NaN, 2 ** 53])('rejects the tree size %s', (size) => {
    expect(() => CompactRange.from(size, [])).toThrow(RangeError);
  });

  it('sizes its frontier by the binary decomposition of the size (popcount)', () => {
    for (let size = 0; size <= 1024; size++) {
      const sizes = frontierSizes(size);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(size);
      expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
      expect(new Set(sizes).size).toBe(sizes.length);
      expect(frontierLength(size)).toBe(size.toString(2).replaceAll('0', '').length);
    }
    for (const size of [2 ** 32, 2 ** 32 - 1, 2 ** 52 + 1, 2 ** 53 - 1]) {
      expect(frontierSizes(size).reduce((a, b) => a + b, 0)).toBe(size);
      expect(frontierLength(size)).toBe(BigInt(size).toString(2).replaceAll('0', '').length);
    }
  });
});

describe('inclusion proofs (RFC 9162 §2.1.3)', () => {
  it(`match the naive audit path and verify for every leaf of every tree up to ${MAX_SIZE} leaves`, () => {
    for (let size = 1; size <= MAX_SIZE; size++) {
      const tree = new PartialTree(0, [], leaves.slice(0, size));
      const root = naive.mth(0, size);
      expect(hex(tree.root())).toBe(hex(root));
      for (let index = 0; index < size; index++) {
        const proof = tree.inclusionProof(index);
        const expected = naivePath(index, size);
        if (!sameHashes(proof, expected))
          expect({ size, index, proof: proof.map(hex) }).toEqual({ size, index, proof: expected.map(hex) });
        if (!verifyInclusion(leaves[index]!, index, size, proof, root))
          expect.fail(`leaf ${index} of ${size} did not verify`);
      }
    }
  });

  it('are the same from every split point: frontier of [0, start) plus leaves [start, size) (sizes up to 64)', () => {
    for (let size = 1; size <= 64; size++) {
      const root = hex(naive.mth(0, size));
      for (let start = 0; start <= size; start++) {
        const tree = new PartialTree(start, naive.frontier(start), leaves.slice(start, size));
        expect(hex(tree.root()), `size ${size} start ${start}`).toBe(root);
        for (let index = start; index < size; index++) {
          if (!sameHashes(tree.inclusionProof(index), naivePath(index, size))) {
            expect.fail(`proof of leaf ${index} of ${size} from start ${start} differs from the naive path`);
          }
        }
      }
    }
  });

  it(`are the same from any split point for any tree up to ${MAX_SIZE} leaves (property)`, () => {
    const caseArb = fc
      .integer({ min: 1, max: MAX_SIZE })
      .chain((size) => fc.record({ size: fc.constant(size), start: fc.integer({ min: 0, max: size - 1 }) }))
      .chain(({ size, start }) =>
        fc.record({
          size: fc.constant(size),
          start: fc.constant(start),
          index: fc.integer({ min: start, max: size - 1 }),
        }),
      );
    fc.assert(
      fc.property(caseArb, ({ size, start, index }) => {
        const tree = new PartialTree(start, naive.frontier(start), leaves.slice(start, size));
        const proof = tree.inclusionProof(index);
        expect(proof.map(hex)).toEqual(naivePath(index, size).map(hex));
        expect(verifyInclusion(leaves[index]!, index, size, proof, tree.root())).toBe(true);
      }),
      { seed: 9162, numRuns: 1000 },
    );
  });

  describe('detect any tampering', () => {
    type Case = { size: number; index: number; proof: Hash[]; root: Hash };
    const trees = new Map<number, PartialTree>();
    const treeOf = (size: number) => {
      const cached = trees.get(size);
      if (cached) return cached;
      const tree = new PartialTree(0, [], leaves.slice(0, size));
      trees.set(size, tree);
      return tree;
    };
    const caseFor = (size: number, index: number): Case => ({
      size,
      index,
      proof: treeOf(size).inclusionProof(index),
      root: naive.mth(0, size),
    });
    const caseArb = fc
      .integer({ min: 1, max: MAX_SIZE })
      .chain((size) => fc.integer({ min: 0, max: size - 1 }).map((index) => caseFor(size, index)));
    const runs = { seed: 6962, numRuns: 1000 };

    it('fails when any bit of the leaf hash is flipped', () => {
      fc.assert(
        fc.property(caseArb, fc.nat(255), ({ size, index, proof, root }, bit) => {
          expect(verifyInclusion(flipBit(leaves[index]!, bit), index, size, proof, root)).toBe(false);
        }),
        runs,
      );
    });

    it('fails when any bit of any proof element is flipped', () => {
      fc.assert(
        fc.property(
          caseArb.filter((c) => c.proof.length > 0),
          fc.nat(),
          fc.nat(255),
          ({ size, index, proof, root }, which, bit) => {
            const tampered = proof.map((hash, i) => (i === which % proof.length ? flipBit(hash, bit) : hash));
            expect(verifyInclusion(leaves[index]!, index, size, tampered, root)).toBe(false);
          },
        ),
        runs,
      );
    });

    it('fails when any bit of the root is flipped', () => {
      fc.assert(
        fc.property(caseArb, fc.nat(255), ({ size, index, proof, root }, bit) => {
          expect(verifyInclusion(leaves[index]!, index, size, proof, flipBit(root, bit))).toBe(false);
        }),
        runs,
      );
    });

    it('fails for any other leaf index in the same tree', () => {
      fc.assert(
        fc.property(
          caseArb.filter((c) => c.size > 1),
          fc.nat(),
          ({ size, index, proof, root }, offset) => {
            const other = (index + 1 + (offset % (size - 1))) % size;
            expect(verifyInclusion(leaves[index]!, other, size, proof, root)).toBe(false);
          },
        ),
        runs,
      );
    });

    it('fails against the root of any other tree size', () => {
      fc.assert(
        fc.property(caseArb, fc.integer({ min: 1, max: MAX_SIZE }), ({ size, index, proof }, otherSize) => {
          fc.pre(otherSize !== size && index < otherSize);
          expect(verifyInclusion(leaves[index]!, index, otherSize, proof, naive.mth(0, otherSize))).toBe(
            false,
          );
        }),
        runs,
      );
    });

    it('fails when a proof element is dropped, added or the proof is reversed', () => {
      fc.assert(
        fc.property(caseArb, ({ size, index, proof, root }) => {
          expect(verifyInclusion(leaves[index]!, index, size, [...proof, root], root)).toBe(false);
          expect(verifyInclusion(leaves[index]!, index, size, [root, ...proof], root)).toBe(false);
          if (proof.length > 0)
            expect(verifyInclusion(leaves[index]!, index, size, proof.slice(1), root)).toBe(false);
          if (proof.length > 0)
            expect(verifyInclusion(leaves[index]!, index, size, proof.slice(0, -1), root)).toBe(false);
          if (new Set(proof.map(hex)).size > 1) {
            expect(verifyInclusion(leaves[index]!, index, size, [...proof].reverse(), root)).toBe(false);
          }
        }),
        runs,
      );
    });

    it('fails for every single-byte change of leaf, proof or root in every tree up to 16 leaves', () => {
      for (let size = 1; size <= 16; size++) {
        for (let index = 0; index < size; index++) {
          const { proof, root } = caseFor(size, index);
          expect(verifyInclusion(leaves[index]!, index, size, proof, root)).toBe(true);
          for (let byte = 0; byte < 32; byte++) {
            const bit = byte * 8 + (byte % 8);
            if (verifyInclusion(flipBit(leaves[index]!, bit), index, size, proof, root))
              expect.fail(`leaf byte ${byte}`);
            if (verifyInclusion(leaves[index]!, index, size, proof, flipBit(root, bit)))
              expect.fail(`root byte ${byte}`);
            proof.forEach((_, which) => {
              const tampered = proof.map((hash, i) => (i === which ? flipBit(hash, bit) : hash));
              if (verifyInclusion(leaves[index]!, index, size, tampered, root))
                expect.fail(`proof ${which} byte ${byte}`);
            });
          }
        }
      }
    });
  });

  it('accepts a proof under another size whose audit path has the same shape: only the signed checkpoint binds the size', () => {
    // Leaf 0's path in trees of 3 and 4 leaves is left-left in both; RFC 9162 §2.1.3.2 cannot tell them
    // apart, so a verifier must take the size from the signed checkpoint, never from the receipt alone.
    const proof = inclusionProofFromLeaves(leaves, 0, 4);
    expect(verifyInclusion(leaves[0]!, 0, 3, proof, naive.mth(0, 4))).toBe(true);
    expect(verifyInclusion(leaves[0]!, 0, 3, proof, naive.mth(0, 3))).toBe(false);
  });

  it.each([
    ['an index equal to the size', 3, 3],
    ['an index beyond the size', 5, 3],
    ['a negative index', -1, 3],
    ['a fractional index', 0.5, 3],
    ['a zero size', 0, 0],
    ['an unsafe size', 0, 2 ** 53],
  ])('fails for %s', (_name, index, size) => {
    expect(rootFromInclusionProof(leaves[0]!, index, size, [])).toBeUndefined();
    expect(verifyInclusion(leaves[0]!, index, size, [], leaves[0]!)).toBe(false);
  });

  it('rejects proofs for leaves outside the appended range and frontiers that do not fit the start', () => {
    const tree = new PartialTree(5, naive.frontier(5), leaves.slice(5, 9));
    expect(() => tree.inclusionProof(4)).toThrow(RangeError);
    expect(() => tree.inclusionProof(9)).toThrow(RangeError);
    expect(() => new PartialTree(5, naive.frontier(4), [])).toThrow(RangeError);
    expect(() => inclusionProofFromLeaves(leaves.slice(0, 4), 0, 5)).toThrow(RangeError);
    expect(() => inclusionProofFromLeaves(leaves.slice(0, 4), 4, 4)).toThrow(RangeError);
  });

  it('verifies proofs of appends to logs of up to 2^53 - 1 leaves (exact arithmetic, no 32-bit operators)', () => {
    const randomHash = fc.uint8Array({ minLength: 32, maxLength: 32 });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 64 }),
          fc.integer({ min: 1, max: 52 }).map((bits) => 2 ** bits - 1),
          fc.integer({ min: 1, max: 52 }).map((bits) => 2 ** bits),
          fc.constant(2 ** 32 - 3),
        ),
        fc.array(randomHash, { minLength: 72, maxLength: 72 }),
        fc.integer({ min: 1, max: 16 }),
        (start, pool, count) => {
          const frontier = pool.slice(0, frontierLength(start));
          const appended = pool.slice(frontier.length, frontier.length + count);
          fc.pre(appended.length === count);
          const tree = new PartialTree(start, frontier, appended);
          const range = CompactRange.from(start, frontier);
          for (const leaf of appended) range.append(leaf);
          expect(hex(tree.root())).toBe(hex(range.root()));
          for (let offset = 0; offset < count; offset++) {
            const index = start + offset;
            const proof = tree.inclusionProof(index);
            expect(verifyInclusion(appended[offset]!, index, start + count, proof, tree.root())).toBe(true);
            expect(
              verifyInclusion(appended[offset]!, index, start + count, proof, flipBit(tree.root(), offset)),
            ).toBe(false);
          }
        },
      ),
      { seed: 253, numRuns: 150 },
    );
  });
});
