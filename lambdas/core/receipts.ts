import { parseCheckpointBody } from './checkpoint.ts';
import { IntegrityError } from './errors.ts';
import { equalHashes, PartialTree } from './merkle.ts';
import type { AppendRecord, LedgerStore, StoredEvent } from './ports.ts';
import { buildReceipt, type Receipt } from './receipt.ts';

/**
 * Rebuilds the original receipt of a stored event: its append record holds the frontier the append
 * extended and the signed checkpoint; the append's own leaves complete every proof. So receipts need not be
 * stored (they would double an event's write cost), and a replay returns exactly what the first call did.
 */
export async function rebuildReceipts(
  store: LedgerStore,
  events: readonly StoredEvent[],
): Promise<Map<string, Receipt>> {
  const receipts = new Map<string, Receipt>();
  const byAppend = new Map<string, StoredEvent[]>();
  for (const event of events) {
    const key = `${event.origin}\n${event.appendStart}`;
    byAppend.set(key, [...(byAppend.get(key) ?? []), event]);
  }
  for (const group of byAppend.values()) {
    const first = group[0]!;
    const append = await store.getAppend(first.origin, first.appendStart);
    if (!append) {
      throw new IntegrityError(
        `append ${first.appendStart} of ${first.origin} is missing (was the log rolled back?)`,
        {
          origin: first.origin,
          leafIndex: first.leafIndex,
          eventId: first.eventId,
        },
      );
    }
    const tree = await appendTree(store, append, first.tenant);
    for (const event of group) {
      receipts.set(
        event.eventId,
        buildReceipt({
          eventId: event.eventId,
          origin: event.origin,
          leafIndex: event.leafIndex,
          leafHash: event.leafHash,
          inclusionProof: tree.inclusionProof(event.leafIndex),
          checkpoint: append.checkpoint,
        }),
      );
    }
  }
  return receipts;
}

/** The partial tree of one append, checked against its signed root before any proof is served from it. */
async function appendTree(store: LedgerStore, append: AppendRecord, tenant: string): Promise<PartialTree> {
  const stored = await store.getEvents(tenant, append.eventIds);
  const leaves = append.eventIds.map((id, offset) => {
    const event = stored.get(id);
    if (!event || event.leafIndex !== append.start + offset) {
      throw new IntegrityError(
        `leaf ${append.start + offset} (event ${id}) of ${append.origin} is missing or moved`,
        {
          origin: append.origin,
          leafIndex: append.start + offset,
          eventId: id,
        },
      );
    }
    return event.leafHash;
  });
  const tree = new PartialTree(append.start, append.previousFrontier, leaves);
  if (!equalHashes(tree.root(), parseCheckpointBody(append.checkpoint.body).rootHash)) {
    throw new IntegrityError(
      `append ${append.start} of ${append.origin} does not match its signed checkpoint`,
      {
        origin: append.origin,
        leafIndex: append.start,
      },
    );
  }
  return tree;
}
