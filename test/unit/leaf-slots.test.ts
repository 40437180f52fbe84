import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LeafSlots } from '#core/leaf-slots.ts';

/** LeafSlots (values by leaf index): a dense array for a log's contiguous leaves, a Map for anything else. */
describe('LeafSlots', () => {
  it('behaves as a map from leaf index to value, in leaf order, whatever the indexes', () => {
    const index = fc.oneof(
      fc.integer({ min: 0, max: 300 }),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    );
    const operation = fc.oneof(fc.record({ set: index, value: fc.integer() }), fc.record({ remove: index }));
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 200 }), (operations) => {
        const slots = new LeafSlots<number>();
        const model = new Map<number, number>();
        for (const op of operations) {
          if ('set' in op) {
            slots.set(op.set, op.value);
            model.set(op.set, op.value);
          } else {
            slots.delete(op.remove);
            model.delete(op.remove);
          }
        }
        const expected = [...model].sort((a, b) => a[0] - b[0]);
        expect([...slots.entries()]).toEqual(expected);
        expect([...slots.values()]).toEqual(expected.map(([, value]) => value));
        expect(slots.size).toBe(model.size);
        for (const [leafIndex, value] of model) expect(slots.get(leafIndex)).toBe(value);
        expect([...slots.clone().entries()]).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps contiguous leaves in an array, even when they arrive from the top down', () => {
    const slots = new LeafSlots<string>();
    for (let leafIndex = 999; leafIndex >= 500; leafIndex--) slots.set(leafIndex, `leaf ${leafIndex}`);
    expect(slots.size).toBe(500);
    expect(slots.get(500)).toBe('leaf 500');
    expect(slots.get(499)).toBeUndefined();
    expect([...slots.values()][0]).toBe('leaf 500');
  });

  it('holds two leaves far apart (a hostile archive) without allocating the span between them', () => {
    const slots = new LeafSlots<string>();
    slots.set(0, 'first');
    slots.set(2 ** 52, 'far');
    expect([...slots.entries()]).toEqual([
      [0, 'first'],
      [2 ** 52, 'far'],
    ]);
  });
});
