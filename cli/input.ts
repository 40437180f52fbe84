import { canonicalize } from '#core/canonical.ts';
import { AuditEventInput, type EventIssue, LIMITS, toEventIssues } from '#core/schema.ts';
import { findDuplicateKey } from '../lambdas/http/strict-json.ts';
import { InputError } from './errors.ts';

/**
 * Reading events for `send`: a JSON array, `{"events": [...]}`, one event object, or JSON lines, told apart
 * by content. Events are validated with the API's own schema before anything is sent, so a bad file
 * fails whole and early, with the same index + path the API would report.
 */
export type InputFormat = 'array' | 'batch' | 'single' | 'jsonl';

export interface ParsedEvents {
  readonly events: unknown[];
  readonly format: InputFormat;
}

export function parseEventsText(text: string, name = 'input'): ParsedEvents {
  const body = text.replace(/^\uFEFF/, '');
  if (body.trim() === '') throw new InputError('empty_input', `${name} holds no events`);
  let whole: unknown;
  try {
    whole = JSON.parse(body);
  } catch (error) {
    const lines = body.split(/\r?\n/).filter((line) => line.trim() !== '');
    if (lines.length < 2)
      throw new InputError('invalid_json', `${name} is not JSON: ${(error as Error).message}`);
    return { events: parseJsonLines(body, name), format: 'jsonl' };
  }
  rejectDuplicateKeys(body, name);
  if (Array.isArray(whole)) return { events: whole, format: 'array' };
  if (isBatch(whole)) return { events: whole.events, format: 'batch' };
  if (typeof whole === 'object' && whole !== null) return { events: [whole], format: 'single' };
  throw new InputError(
    'invalid_input',
    `${name} must hold events: a JSON array, {"events": [...]}, an object or JSON lines`,
  );
}

const isBatch = (value: unknown): value is { events: unknown[] } =>
  typeof value === 'object' &&
  value !== null &&
  !Array.isArray(value) &&
  Object.keys(value).length === 1 &&
  Array.isArray((value as { events?: unknown }).events);

function parseJsonLines(body: string, name: string): unknown[] {
  const events: unknown[] = [];
  body.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      events.push(JSON.parse(line));
    } catch (error) {
      throw new InputError('invalid_json', `${name} line ${i + 1} is not JSON: ${(error as Error).message}`, {
        line: i + 1,
      });
    }
    rejectDuplicateKeys(line, `${name} line ${i + 1}`);
  });
  return events;
}

/** With a repeated key, what gets sent would depend on which value the parser kept: refuse instead. */
function rejectDuplicateKeys(text: string, name: string): void {
  const key = findDuplicateKey(text);
  if (key !== undefined)
    throw new InputError('duplicate_key', `${name} repeats the key ${JSON.stringify(key)} in one object`);
}

/** Every problem with every event (schema, repeated ids, records certainly too large); empty if all valid. */
export function validateEvents(events: readonly unknown[]): EventIssue[] {
  const issues: EventIssue[] = [];
  const firstIndexOfId = new Map<string, number>();
  events.forEach((event, index) => {
    const parsed = AuditEventInput.safeParse(event);
    if (!parsed.success) {
      issues.push(...toEventIssues(index, parsed.error));
      return;
    }
    const earlier = firstIndexOfId.get(parsed.data.id);
    if (earlier !== undefined) {
      issues.push({ index, path: 'id', message: `repeats the id of event ${earlier}` });
      return;
    }
    firstIndexOfId.set(parsed.data.id, index);
    // The server adds its own fields, so only a record already over the limit without them is certain to fail.
    const bytes = Buffer.byteLength(canonicalize(parsed.data));
    if (bytes > LIMITS.maxRecordBytes) {
      issues.push({
        index,
        path: '',
        message: `event is ${bytes} bytes; a record holds at most ${LIMITS.maxRecordBytes}`,
      });
    }
  });
  return issues;
}

/** Room left per event for the fields the server adds (tenant, receivedAt, caller ARN, IP, user agent). */
export const SERVER_FIELDS_ALLOWANCE = 1024;

export interface BatchLimits {
  readonly maxEvents: number;
  /** Budget for the stored records of one request (one DynamoDB transaction). */
  readonly maxRecordBytes: number;
  /** Budget for the request body. */
  readonly maxBodyBytes: number;
}

export const DEFAULT_BATCH_LIMITS: BatchLimits = {
  maxEvents: LIMITS.maxBatchEvents,
  maxRecordBytes: LIMITS.maxBatchRecordBytes,
  maxBodyBytes: LIMITS.maxBodyBytes,
};

const BODY_ENVELOPE = Buffer.byteLength('{"events":[]}');

/**
 * Splits events into consecutive batches ([start, end) index ranges) that fit the write path's limits by
 * count and by bytes. Consecutive ranges keep receipts in input order. An event too big for any batch still
 * gets a batch of its own: the server then says exactly why it refuses it.
 */
export function planBatches(
  events: readonly unknown[],
  limits: BatchLimits = DEFAULT_BATCH_LIMITS,
): Array<[number, number]> {
  const batches: Array<[number, number]> = [];
  let start = 0;
  let recordBytes = 0;
  let bodyBytes = BODY_ENVELOPE;
  events.forEach((event, index) => {
    const json = Buffer.byteLength(JSON.stringify(event));
    const record = json + SERVER_FIELDS_ALLOWANCE;
    const count = index - start;
    const full =
      count >= limits.maxEvents ||
      (count > 0 &&
        (recordBytes + record > limits.maxRecordBytes || bodyBytes + json + 1 > limits.maxBodyBytes));
    if (full) {
      batches.push([start, index]);
      start = index;
      recordBytes = 0;
      bodyBytes = BODY_ENVELOPE;
    }
    recordBytes += record;
    bodyBytes += json + 1;
  });
  if (start < events.length) batches.push([start, events.length]);
  return batches;
}
