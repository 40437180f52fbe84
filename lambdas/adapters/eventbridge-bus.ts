import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { EntriesNotPublishedError } from '#core/alert-rules.ts';
import type { BusEntry, EventBus } from '#core/ports.ts';

/** PutEvents takes at most 10 entries and 256 KB per call (entry sizes counted as EventBridge counts them). */
export const PUT_EVENTS_MAX_ENTRIES = 10;
export const PUT_EVENTS_MAX_BYTES = 256 * 1024;

export interface EventBridgeBusOptions {
  /** Attempts at the entries PutEvents reported failed (throttling, internal errors). @default 4 */
  readonly maxAttempts?: number;
  /** First delay between attempts, doubled each time. @default 100 */
  readonly baseDelayMs?: number;
}

/**
 * The event bus on EventBridge. PutEvents answers 200 even when some entries failed (FailedEntryCount), so
 * each call's failed entries are retried alone; entries still failing, and every later entry (not tried),
 * are reported by EntriesNotPublishedError with their indexes.
 */
export class EventBridgeBus implements EventBus {
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;

  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
    options: EventBridgeBusOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 4;
    this.baseDelayMs = options.baseDelayMs ?? 100;
  }

  async publish(entries: readonly BusEntry[]): Promise<void> {
    const requests = entries.map((entry) => this.toRequest(entry));
    const chunks = chunkEntries(requests);
    for (const [n, chunk] of chunks.entries()) {
      const failed = await this.publishChunk(chunk.map((index) => ({ index, request: requests[index]! })));
      if (failed.indexes.length > 0) {
        const later = chunks.slice(n + 1).flat();
        throw new EntriesNotPublishedError(
          [...failed.indexes, ...later],
          `EventBridge did not accept ${failed.indexes.length} of ${entries.length} entries after ${this.maxAttempts} attempts: ${failed.reason}`,
          failed.cause === undefined ? undefined : { cause: failed.cause },
        );
      }
    }
  }

  private toRequest(entry: BusEntry): PutEventsRequestEntry {
    return {
      EventBusName: this.busName,
      Source: entry.source,
      DetailType: entry.detailType,
      Detail: JSON.stringify(entry.detail),
      ...(entry.time ? { Time: entry.time } : {}),
    };
  }

  private async publishChunk(pending: { index: number; request: PutEventsRequestEntry }[]) {
    let reason = '';
    let cause: unknown;
    for (let attempt = 1; attempt <= this.maxAttempts && pending.length > 0; attempt++) {
      if (attempt > 1) await sleep(this.baseDelayMs * 2 ** (attempt - 2));
      try {
        const response = await this.client.send(
          new PutEventsCommand({ Entries: pending.map((p) => p.request) }),
        );
        const results = response.Entries ?? [];
        if (!response.FailedEntryCount) return { indexes: [] as number[], reason };
        // Results come back in request order; an entry with an ErrorCode (or no EventId) was not accepted.
        const failed = pending.filter(
          (_, i) => results[i]?.ErrorCode !== undefined || results[i]?.EventId === undefined,
        );
        const first = results.find((result) => result.ErrorCode !== undefined);
        reason = `${first?.ErrorCode ?? 'unknown error'}: ${first?.ErrorMessage ?? ''}`.trim();
        pending = failed;
      } catch (error) {
        // The SDK already retried throttling and network errors; the whole call failed.
        reason = (error as Error).message;
        cause = error;
      }
    }
    return { indexes: pending.map((p) => p.index), reason, cause };
  }
}

/**
 * Entry size as EventBridge computes it: Time 14 bytes if set, plus the UTF-8 bytes of Source, DetailType,
 * Detail and each resource.
 */
export function entrySize(request: PutEventsRequestEntry): number {
  const bytes = (text: string | undefined) => (text === undefined ? 0 : Buffer.byteLength(text, 'utf8'));
  return (
    (request.Time ? 14 : 0) +
    bytes(request.Source) +
    bytes(request.DetailType) +
    bytes(request.Detail) +
    (request.Resources ?? []).reduce((sum, resource) => sum + bytes(resource), 0)
  );
}

/** Splits entries (by index) into PutEvents calls of ≤10 entries and ≤256 KB, keeping their order. */
export function chunkEntries(requests: readonly PutEventsRequestEntry[]): number[][] {
  const chunks: number[][] = [];
  let current: number[] = [];
  let size = 0;
  for (const [index, request] of requests.entries()) {
    const entry = entrySize(request);
    if (
      current.length > 0 &&
      (current.length === PUT_EVENTS_MAX_ENTRIES || size + entry > PUT_EVENTS_MAX_BYTES)
    ) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(index);
    size += entry;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
