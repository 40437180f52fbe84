import { SignedCheckpoint } from '#core/checkpoint.ts';
import { Receipt } from '#core/receipt.ts';
import type { LogSummary } from './client.ts';
import { InputError } from './errors.ts';

/**
 * Checkpoints seen before (a witness): what `verify --save-checkpoints` wrote, the output of GET /v1/logs,
 * signed checkpoints, or receipts (what `send --receipts-out` wrote). Receipts also name events, so a
 * rolled-back head can be pinned to the first event it lost.
 */
export interface Witness {
  readonly checkpoints: SignedCheckpoint[];
  readonly receipts: Receipt[];
}

export const SAVED_CHECKPOINTS_VERSION = 1;

export function parseWitness(text: string, name: string): Witness {
  const items = witnessItems(parseDocumentOrLines(text, name));
  const witness: Witness = { checkpoints: [], receipts: [] };
  items.forEach((item, index) => {
    const receipt = Receipt.safeParse(item);
    if (receipt.success) {
      witness.receipts.push(receipt.data);
      witness.checkpoints.push(receipt.data.checkpoint);
      return;
    }
    const checkpoint = SignedCheckpoint.safeParse(item);
    if (checkpoint.success) {
      witness.checkpoints.push(checkpoint.data);
      return;
    }
    const inner = (item as { checkpoint?: unknown } | null)?.checkpoint;
    if (inner === null) return;
    const wrapped = SignedCheckpoint.safeParse(inner);
    if (!wrapped.success)
      throw new InputError(
        'invalid_checkpoints',
        `${name} item ${index} is neither a signed checkpoint nor a receipt`,
      );
    witness.checkpoints.push(wrapped.data);
  });
  return witness;
}

function parseDocumentOrLines(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text
      .split(/\r?\n/)
      .filter((line) => line.trim() !== '')
      .map((line, i) => {
        try {
          return JSON.parse(line);
        } catch {
          throw new InputError(
            'invalid_checkpoints',
            `${name} is neither JSON nor JSON lines (line ${i + 1})`,
          );
        }
      });
  }
}

function witnessItems(document: unknown): unknown[] {
  if (Array.isArray(document)) return document;
  if (typeof document === 'object' && document !== null) {
    for (const key of ['logs', 'checkpoints', 'receipts'] as const) {
      const list = (document as Record<string, unknown>)[key];
      if (Array.isArray(list)) return list;
    }
  }
  return [document];
}

/** The document `verify --save-checkpoints` writes: each verified log's head. */
export const savedCheckpoints = (logs: readonly LogSummary[], savedAt: Date) => ({
  version: SAVED_CHECKPOINTS_VERSION,
  savedAt: savedAt.toISOString(),
  logs: logs.filter((log) => log.checkpoint !== null),
});
