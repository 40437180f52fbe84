import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  type ArchivedLine,
  EventLineError,
  eventLine,
  readEventLines as readLineBytes,
  recordTextOf,
} from '#core/archive-layout.ts';
import { gunzipBytes, gzipDeterministic } from '#core/archiving.ts';
import { canonicalize } from '#core/canonical.ts';

/**
 * Events lines (archive-layout.ts): the archiver writes the RFC 8785 form of each ArchivedEvent with the
 * stored record text embedded; the reader takes the record back as those exact bytes, without parsing it,
 * and falls back to a full parse (with precise errors) for any other line.
 */

/** Reads lines from text, as plain objects with the record as text (a read line is a view with getters). */
const readEventLines = (text: string) =>
  readLineBytes(Buffer.from(text, 'utf8')).map((line) => {
    const { appendStart, eventId, leafHash, leafIndex, origin } = line;
    return { appendStart, eventId, leafHash, leafIndex, origin, recordText: recordTextOf(line) };
  });
const record = {
  id: '7f4c2a9e-1b3d-4e5f-8a6b-9c0d1e2f3a4b',
  action: 'deployment.apply',
  actor: { id: 'ci', type: 'service' },
  change: { summary: 'quote " backslash \\ newline \n tab \t é \u2028 😀' },
  receivedAt: '2026-03-01T10:00:00.000Z',
};
const fields = {
  appendStart: 40,
  eventId: record.id,
  leafHash: 'ab'.repeat(32),
  leafIndex: 41,
  origin: 'audit.example.com/acme/0',
};
const recordText = canonicalize(record);

describe('eventLine', () => {
  it('is the canonical JSON of the ArchivedEvent, its record part the record text itself', () => {
    const line = eventLine(fields, recordText);
    expect(line).toBe(canonicalize({ ...fields, record }));
    expect(line).toBe(canonicalize(JSON.parse(line)));
    expect(line.slice(line.indexOf('"record":') + '"record":'.length, -1)).toBe(recordText);
  });

  it('escapes strings as RFC 8785 does and refuses lone surrogates', () => {
    const odd = { ...fields, origin: 'a"b\\c\u0001/é', eventId: 'x\ny' };
    expect(eventLine(odd, recordText)).toBe(canonicalize({ ...odd, record }));
    expect(() => eventLine({ ...fields, eventId: '\ud800' }, recordText)).toThrow(/surrogate/);
  });
});

describe('readEventLines', () => {
  const expected: Omit<ArchivedLine, 'recordBytes'> & { recordText: string } = { ...fields, recordText };

  it('reads canonical lines with the record as the exact stored text, skipping blank lines', () => {
    const other = { ...fields, leafIndex: 42, eventId: 'other' };
    const text = `${eventLine(fields, recordText)}\n\n${eventLine(other, recordText)}\n`;
    const lines = readEventLines(text);
    expect(lines).toEqual([expected, { ...other, recordText }]);
  });

  it('decodes escaped origins and event ids', () => {
    const odd = { ...fields, origin: 'a"b\\c\u0001/é', eventId: 'x\ny' };
    expect(readEventLines(eventLine(odd, recordText))).toEqual([{ ...odd, recordText }]);
  });

  it('takes the record text up to the line end: trailing bytes stay in it (and fail the leaf hash later)', () => {
    const line = `${eventLine(fields, recordText).slice(0, -1)},"extra":1}`;
    expect(readEventLines(line)[0]!.recordText).toBe(`${recordText},"extra":1`);
  });

  it('reads other key orders, spacing and line ends through a full parse, canonicalizing the record', () => {
    const spaced = JSON.stringify({ ...fields, record }, null, 0).replace('{', '{ ');
    const reordered = JSON.stringify({ record, ...fields });
    expect(readEventLines(`${spaced}\r\n${reordered}`)).toEqual([expected, expected]);
  });

  it('reads lines written before eventId existed, taking it from the record', () => {
    const { eventId: _, ...legacy } = fields;
    expect(readEventLines(canonicalize({ ...legacy, record }))).toEqual([expected]);
  });

  it.each([
    ['not JSON', `${eventLine(fields, recordText)}\n{"appendStart":`, 2, /^is not JSON/],
    ['no record', JSON.stringify(fields), 1, /^is not an archived event \(record: /],
    ['an unknown key', JSON.stringify({ ...fields, extra: 1, record }), 1, /^is not an archived event/],
    ['a bad leaf hash', JSON.stringify({ ...fields, leafHash: 'AB', record }), 1, /leafHash/],
    ['an unsafe index', eventLine({ ...fields, leafIndex: 2 ** 53 }, recordText), 1, /leafIndex/],
    ['a record that is an array', JSON.stringify({ ...fields, record: [] }), 1, /record/],
  ])('names the line and what is wrong: %s', (_name, text, line, message) => {
    let error: unknown;
    try {
      readLineBytes(Buffer.from(text));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(EventLineError);
    expect((error as EventLineError).line).toBe(line);
    expect((error as EventLineError).message).toMatch(message);
  });
});

describe('gunzipBytes', () => {
  const text = Buffer.from('{"a":1}\n'.repeat(500));
  const member = gzipSync(text);

  it('inflates one member, as the archiver writes it and with a file name in the header', () => {
    expect(gunzipBytes(gzipDeterministic(text)).equals(text)).toBe(true);
    const named = Buffer.concat([
      Buffer.from([0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 0xff]),
      Buffer.from('events.jsonl\0'),
      member.subarray(10),
    ]);
    expect(gunzipBytes(named).equals(text)).toBe(true);
  });

  it('reads every member of a multi-member object, as gunzip does', () => {
    expect(gunzipBytes(Buffer.concat([member, member])).equals(Buffer.concat([text, text]))).toBe(true);
  });

  it('refuses a wrong CRC or length, and bytes that are not gzip', () => {
    const badCrc = Buffer.from(member);
    badCrc[badCrc.length - 8] = badCrc[badCrc.length - 8]! ^ 0xff;
    expect(() => gunzipBytes(badCrc)).toThrow();
    const badLength = Buffer.from(member);
    badLength[badLength.length - 1] = badLength[badLength.length - 1]! ^ 0xff;
    expect(() => gunzipBytes(badLength)).toThrow();
    expect(() => gunzipBytes(member.subarray(0, member.length - 20))).toThrow();
    expect(() => gunzipBytes(text)).toThrow();
  });
});

describe('readEventLines on bytes', () => {
  it('gives each record as a view of the object bytes, not a copy', () => {
    const bytes = Buffer.from(`${eventLine(fields, recordText)}\n`);
    const [line] = readLineBytes(bytes);
    expect(line!.recordBytes.buffer).toBe(bytes.buffer);
    expect(recordTextOf(line!)).toBe(recordText);
  });
});
