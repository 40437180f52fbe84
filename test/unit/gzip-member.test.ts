import { randomBytes } from 'node:crypto';
import { crc32, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { gzipDeterministic } from '#core/archiving.ts';
import { GzipMemberInflater, inflateSingleMember } from '#core/gzip-member.ts';

/**
 * `GzipMemberInflater` drives zlib's handle directly (to inflate into the caller's memory): it must accept
 * exactly what `inflateSingleMember` (the public zlib path) accepts, and survive zlib errors.
 */
const text = Buffer.from('{"a":1,"b":"two"}\n'.repeat(2000));
const member = Buffer.from(gzipDeterministic(text));

/** Inflates into a fresh buffer, recording the sizes asked for. */
function inflate(inflater: GzipMemberInflater, body: Uint8Array, asked: number[] = []) {
  let target: Buffer | undefined;
  const output = inflater.into(body, (size) => {
    asked.push(size);
    target = Buffer.alloc(size, 0xee);
    return target;
  });
  return { output, target };
}

const flipped = (bytes: Uint8Array, at: number) => {
  const copy = Buffer.from(bytes);
  copy[at] = copy[at]! ^ 0x01;
  return copy;
};

describe('GzipMemberInflater', () => {
  it('inflates a member into the memory given, asking for one byte more than the trailer length', () => {
    const asked: number[] = [];
    const { output, target } = inflate(new GzipMemberInflater(), member, asked);
    expect(output?.equals(text)).toBe(true);
    expect(asked).toEqual([text.length + 1]);
    // A view of the caller's memory, not a copy; the extra byte is left as it was.
    expect(output?.buffer).toBe(target?.buffer);
    expect(target?.[text.length]).toBe(0xee);
  });

  it('inflates one member after another with one engine, as the public path does', () => {
    const inflater = new GzipMemberInflater();
    for (let i = 0; i < 50; i++) {
      const input = randomBytes(1 + i * 997);
      const gzipped = gzipSync(input, { level: i % 10 });
      expect(inflate(inflater, gzipped).output?.equals(input)).toBe(true);
      expect(inflateSingleMember(gzipped)?.equals(input)).toBe(true);
    }
  });

  it('refuses what the public path refuses: a wrong CRC or length, a cut member, two members, not gzip', () => {
    const inflater = new GzipMemberInflater();
    const refused = {
      'wrong CRC': flipped(member, member.length - 8),
      'length one more': flipped(member, member.length - 4),
      'length one less': Buffer.concat([member.subarray(0, -4), numberLE(text.length - 1)]),
      // Would pass a check of the CRC over the memory given (filled with 0xee), if not of the output's end.
      'length one more, CRC of the output and one byte of memory': Buffer.concat([
        member.subarray(0, -8),
        numberLE(crc32(Buffer.concat([text, Buffer.from([0xee])]))),
        numberLE(text.length + 1),
      ]),
      'cut inside the deflate data': Buffer.concat([
        member.subarray(0, member.length - 30),
        member.subarray(-8),
      ]),
      'two members': Buffer.concat([member, member]),
      'bytes after the deflate data': Buffer.concat([
        member.subarray(0, -8),
        Buffer.from([0]),
        member.subarray(-8),
      ]),
      'not gzip': text,
      'header only': member.subarray(0, 10),
    };
    for (const [name, body] of Object.entries(refused)) {
      expect({ name, output: inflate(inflater, body).output }).toEqual({ name, output: undefined });
      expect({ name, output: inflateSingleMember(Buffer.from(body)) }).toEqual({ name, output: undefined });
    }
    // The engine still inflates a good member afterwards.
    expect(inflate(inflater, member).output?.equals(text)).toBe(true);
  });

  it('recovers from a zlib error: corrupt deflate data fails, the next member inflates', async () => {
    const inflater = new GzipMemberInflater();
    const corrupt = Buffer.from(member);
    corrupt.fill(0xff, 10, 40);
    expect(inflate(inflater, corrupt).output).toBeUndefined();
    expect(inflate(inflater, member).output?.equals(text)).toBe(true);
    // The failed engine's error event has a listener: nothing is thrown on a later tick.
    await new Promise((resolve) => setImmediate(resolve));
  });

  it('does not set memory aside for a trailer claiming more than it inflates in place', () => {
    const asked: number[] = [];
    const claimsFourGigabytes = Buffer.concat([member.subarray(0, -4), numberLE(0xffff_fff0)]);
    expect(inflate(new GzipMemberInflater(), claimsFourGigabytes, asked).output).toBeUndefined();
    expect(asked).toEqual([]);
  });

  it('answers undefined, not an error, when the memory cannot be set aside', () => {
    const inflater = new GzipMemberInflater();
    expect(
      inflater.into(member, () => {
        throw new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded');
      }),
    ).toBeUndefined();
    expect(inflate(inflater, member).output?.equals(text)).toBe(true);
  });
});

const numberLE = (value: number) => {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(value);
  return bytes;
};
