import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LIMITS } from '#core/schema.ts';
import { InputError } from '../../cli/errors.ts';
import { parseEventsText, planBatches, SERVER_FIELDS_ALLOWANCE, validateEvents } from '../../cli/input.ts';
import { parseWitness } from '../../cli/witness.ts';

const event = (overrides: Record<string, unknown> = {}) => ({
  id: randomUUID(),
  time: '2026-01-31T12:00:00Z',
  action: 'deployment.apply',
  category: 'deployment',
  outcome: 'success',
  actor: { type: 'user', id: 'alice' },
  resources: [{ type: 'stack', id: 'prod' }],
  source: { system: 'ci' },
  ...overrides,
});

describe('parseEventsText', () => {
  const [a, b] = [event(), event()];

  it('reads a JSON array', () => {
    expect(parseEventsText(JSON.stringify([a, b]))).toEqual({ events: [a, b], format: 'array' });
  });

  it('reads the API body {"events": [...]}', () => {
    expect(parseEventsText(JSON.stringify({ events: [a] }, null, 2))).toEqual({
      events: [a],
      format: 'batch',
    });
  });

  it('reads one event object', () => {
    expect(parseEventsText(JSON.stringify(a, null, 2))).toEqual({ events: [a], format: 'single' });
  });

  it('reads JSON lines, skipping blank lines and CRLF', () => {
    expect(parseEventsText(`${JSON.stringify(a)}\r\n\r\n${JSON.stringify(b)}\n`)).toEqual({
      events: [a, b],
      format: 'jsonl',
    });
  });

  it('ignores a byte order mark', () => {
    expect(parseEventsText(`\uFEFF${JSON.stringify([a])}`).events).toEqual([a]);
  });

  it('rejects a JSON line that does not parse, naming the line', () => {
    expect(() => parseEventsText(`${JSON.stringify(a)}\n{"id":\n`, 'events.jsonl')).toThrow(
      /events.jsonl line 2 is not JSON/,
    );
  });

  it('rejects a repeated key, which would silently drop one value', () => {
    expect(() => parseEventsText('[{"id":"a","id":"b"}]')).toThrow(/repeats the key "id"/);
  });

  it('rejects empty input and non-event JSON', () => {
    expect(() => parseEventsText('  \n')).toThrow(InputError);
    expect(() => parseEventsText('42')).toThrow(/must hold events/);
  });
});

describe('validateEvents', () => {
  it('accepts valid events', () => {
    expect(validateEvents([event(), event()])).toEqual([]);
  });

  it('rejects invalid events with index and path, as the API reports them', () => {
    const issues = validateEvents([
      event(),
      event({ resources: [{ type: 'stack', id: '' }] }),
      event({ colour: 'red' }),
    ]);
    expect(issues).toEqual([
      { index: 1, path: 'resources[0].id', message: 'must not be empty' },
      { index: 2, path: 'colour', message: 'is not a known field' },
    ]);
  });

  it('rejects a repeated id', () => {
    const first = event();
    expect(validateEvents([first, { ...first }])).toEqual([
      { index: 1, path: 'id', message: 'repeats the id of event 0' },
    ]);
  });

  it('rejects an event already larger than a record may be', () => {
    const big = event({
      change: {
        summary: 'x'.repeat(4000),
        after: { blob: 'y'.repeat(LIMITS.changeStringLength), more: 'z'.repeat(LIMITS.changeStringLength) },
      },
    });
    expect(validateEvents([big])[0]).toMatchObject({
      index: 0,
      path: '',
      message: expect.stringMatching(/at most 131072/),
    });
  });
});

describe('planBatches', () => {
  it('splits by count at the write path limit', () => {
    const events = Array.from({ length: 200 }, () => event());
    expect(planBatches(events)).toEqual([
      [0, 98],
      [98, 196],
      [196, 200],
    ]);
  });

  it('splits by bytes before the count limit', () => {
    const events = Array.from({ length: 10 }, () => ({ pad: 'x'.repeat(1000) }));
    const oneRecord = JSON.stringify(events[0]).length + SERVER_FIELDS_ALLOWANCE;
    const batches = planBatches(events, {
      maxEvents: 98,
      maxRecordBytes: oneRecord * 3,
      maxBodyBytes: 1_000_000,
    });
    expect(batches).toEqual([
      [0, 3],
      [3, 6],
      [6, 9],
      [9, 10],
    ]);
  });

  it('splits by body size too', () => {
    const events = Array.from({ length: 4 }, () => ({ pad: 'x'.repeat(100) }));
    const batches = planBatches(events, { maxEvents: 98, maxRecordBytes: 1_000_000, maxBodyBytes: 250 });
    expect(batches).toEqual([
      [0, 2],
      [2, 4],
    ]);
  });

  it('gives an event too big for any batch a batch of its own', () => {
    const events = [{ a: 1 }, { pad: 'x'.repeat(5000) }, { b: 2 }];
    expect(planBatches(events, { maxEvents: 98, maxRecordBytes: 3000, maxBodyBytes: 1_000_000 })).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
    ]);
  });

  it('covers every event once, in order, within the limits (property)', () => {
    const limits = { maxEvents: 5, maxRecordBytes: 8000, maxBodyBytes: 6000 };
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 3000 }), { maxLength: 60 }), (pads) => {
        const events = pads.map((pad) => ({ pad }));
        const batches = planBatches(events, limits);
        expect(
          batches.flatMap(([start, end]) => Array.from({ length: end - start }, (_, i) => start + i)),
        ).toEqual(events.map((_, i) => i));
        for (const [start, end] of batches) {
          const slice = events.slice(start, end);
          expect(slice.length).toBeLessThanOrEqual(limits.maxEvents);
          if (slice.length > 1)
            expect(Buffer.byteLength(JSON.stringify({ events: slice }))).toBeLessThanOrEqual(
              limits.maxBodyBytes,
            );
        }
      }),
    );
  });
});

describe('parseWitness', () => {
  const checkpoint = {
    body: 'o/t/0\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n',
    keyId: 'k',
    algorithm: 'ECDSA_SHA_256',
    signature: 'AAAA',
  };
  const receipt = {
    version: 1,
    eventId: 'e',
    origin: 'o/t/0',
    leafIndex: 2,
    leafHash: 'a'.repeat(64),
    inclusionProof: [],
    checkpoint,
  };

  it('reads saved log heads, receipts as JSON lines, and bare checkpoints', () => {
    expect(
      parseWitness(JSON.stringify({ version: 1, logs: [{ origin: 'o/t/0', size: 3, checkpoint }] }), 'f')
        .checkpoints,
    ).toEqual([checkpoint]);
    expect(parseWitness(`${JSON.stringify(receipt)}\n${JSON.stringify(receipt)}\n`, 'f')).toMatchObject({
      receipts: [receipt, receipt],
    });
    expect(parseWitness(JSON.stringify([checkpoint]), 'f').checkpoints).toEqual([checkpoint]);
  });

  it('rejects items that are neither checkpoints nor receipts', () => {
    expect(() => parseWitness(JSON.stringify([{ hello: 1 }]), 'f')).toThrow(/item 0/);
  });
});
