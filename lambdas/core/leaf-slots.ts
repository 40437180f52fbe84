/**
 * Values by leaf index for one log. A log's leaves are contiguous, so they are kept in a plain array from the
 * lowest index seen: no hashing per leaf, one small object per log. Indexes spread too far apart to fit an
 * array (only a damaged or hostile archive has them) switch it to a Map for good, so memory stays about the
 * number of values either way.
 */
export class LeafSlots<T> {
  private first = 0;
  private dense: (T | undefined)[] | undefined = [];
  private sparse: Map<number, T> | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(leafIndex: number): T | undefined {
    if (this.sparse) return this.sparse.get(leafIndex);
    return this.dense![leafIndex - this.first];
  }

  set(leafIndex: number, value: T): void {
    if (!this.sparse && !this.fits(leafIndex)) this.toSparse();
    if (this.sparse) {
      if (!this.sparse.has(leafIndex)) this.count += 1;
      this.sparse.set(leafIndex, value);
      return;
    }
    if (this.count === 0) this.first = leafIndex;
    else if (leafIndex < this.first) {
      this.dense = new Array<T | undefined>(this.first - leafIndex).concat(this.dense!);
      this.first = leafIndex;
    }
    const dense = this.dense!;
    const offset = leafIndex - this.first;
    if (dense[offset] === undefined) this.count += 1;
    dense[offset] = value;
  }

  delete(leafIndex: number): void {
    if (this.get(leafIndex) === undefined) return;
    this.count -= 1;
    if (this.sparse) this.sparse.delete(leafIndex);
    else this.dense![leafIndex - this.first] = undefined;
  }

  /** A copy holding the same values. */
  clone(): LeafSlots<T> {
    const copy = new LeafSlots<T>();
    for (const [leafIndex, value] of this.entries()) copy.set(leafIndex, value);
    return copy;
  }

  /** Values in leaf order. */
  *values(): IterableIterator<T> {
    for (const [, value] of this.entries()) yield value;
  }

  /** Leaf indexes and values, in leaf order. */
  *entries(): IterableIterator<[number, T]> {
    if (this.sparse) {
      yield* [...this.sparse].sort((a, b) => a[0] - b[0]);
      return;
    }
    const dense = this.dense!;
    for (let offset = 0; offset < dense.length; offset++) {
      const value = dense[offset];
      if (value !== undefined) yield [this.first + offset, value];
    }
  }

  /** Whether the array, extended to `leafIndex`, stays within a few times the values it holds. */
  private fits(leafIndex: number): boolean {
    if (this.count === 0) return true;
    const low = Math.min(this.first, leafIndex);
    const high = Math.max(this.first + this.dense!.length - 1, leafIndex);
    return high - low < Math.max(MIN_SPAN, SPREAD * this.count);
  }

  private toSparse(): void {
    this.sparse = new Map();
    this.dense!.forEach((value, offset) => {
      if (value !== undefined) this.sparse!.set(this.first + offset, value);
    });
    this.dense = undefined;
  }
}

const MIN_SPAN = 1 << 16;
const SPREAD = 4;
