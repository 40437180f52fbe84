import { z } from 'zod';
import { SignedCheckpoint } from './checkpoint.ts';
import { fromHex, toHex } from './merkle.ts';
import type { AppendRecord } from './ports.ts';

/**
 * JSON shapes of log data on the wire (the API's `/appends` and the archive's `checkpoints/` objects).
 * Hashes are lowercase hex. An append carries its records so it can be verified on its own.
 */
const HexHash = z.string().regex(/^[0-9a-f]{64}$/);

export const AppendJson = z.strictObject({
  origin: z.string(),
  tenant: z.string(),
  start: z.number().int().nonnegative(),
  size: z.number().int().nonnegative(),
  previous: SignedCheckpoint.nullable(),
  previousFrontier: z.array(HexHash),
  checkpoint: SignedCheckpoint,
  frontier: z.array(HexHash),
  eventIds: z.array(z.string()),
});
export type AppendJson = z.infer<typeof AppendJson>;

/** One leaf as served: the record (its canonical JSON is the leaf) and the stored leaf hash. */
export const LeafJson = z.strictObject({
  leafIndex: z.number().int().nonnegative(),
  eventId: z.string(),
  leafHash: HexHash.optional(),
  record: z.record(z.string(), z.unknown()),
});
export type LeafJson = z.infer<typeof LeafJson>;

export const AppendWithLeavesJson = AppendJson.extend({ leaves: z.array(LeafJson) });
export type AppendWithLeavesJson = z.infer<typeof AppendWithLeavesJson>;

export const appendToJson = (append: AppendRecord): AppendJson => ({
  origin: append.origin,
  tenant: append.tenant,
  start: append.start,
  size: append.size,
  previous: append.previous,
  previousFrontier: append.previousFrontier.map(toHex),
  checkpoint: append.checkpoint,
  frontier: append.frontier.map(toHex),
  eventIds: [...append.eventIds],
});

export const appendFromJson = (json: AppendJson): AppendRecord => ({
  ...json,
  previousFrontier: json.previousFrontier.map(fromHex),
  frontier: json.frontier.map(fromHex),
});
