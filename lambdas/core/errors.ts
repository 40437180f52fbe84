import type { EventIssue } from './schema.ts';

/**
 * Domain errors. Each has a stable `code` (API clients branch on it) and maps to one HTTP status in
 * `lambdas/http/responses.ts`.
 */
export abstract class AuditTrailError extends Error {
  abstract readonly code: string;
}

/** The request as a whole is unusable (not an object, no `events`, empty or oversized batch). */
export class InvalidRequestError extends AuditTrailError {
  override readonly name = 'InvalidRequestError';
  readonly code = 'invalid_request';
}

/** One or more events fail validation: nothing is stored. */
export class InvalidEventsError extends AuditTrailError {
  override readonly name = 'InvalidEventsError';
  readonly code = 'invalid_event';
  constructor(readonly issues: readonly EventIssue[]) {
    const first = issues[0];
    super(
      first
        ? `event ${first.index}${first.path ? ` field ${first.path}` : ''}: ${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`
        : 'invalid events',
    );
  }
}

/** The request body is larger than the write path can store in one transaction. */
export class PayloadTooLargeError extends AuditTrailError {
  override readonly name = 'PayloadTooLargeError';
  readonly code = 'payload_too_large';
}

export class UnsupportedMediaTypeError extends AuditTrailError {
  override readonly name = 'UnsupportedMediaTypeError';
  readonly code = 'unsupported_media_type';
}

/** An event id already holds a different event. Nothing is overwritten. */
export class EventConflictError extends AuditTrailError {
  override readonly name = 'EventConflictError';
  readonly code = 'event_conflict';
  constructor(readonly eventIds: readonly string[]) {
    super(
      `event id${eventIds.length > 1 ? 's' : ''} ${eventIds.join(', ')} already recorded with different content`,
    );
  }
}

/** Concurrent appends kept winning the race for the log head: the client should retry. */
export class ContentionError extends AuditTrailError {
  override readonly name = 'ContentionError';
  readonly code = 'log_contention';
  readonly retryAfterSeconds = 1;
}

/** The caller is authenticated but not allowed this operation (or has no tenant). */
export class ForbiddenError extends AuditTrailError {
  override readonly name = 'ForbiddenError';
  readonly code = 'forbidden';
}

export class NotFoundError extends AuditTrailError {
  override readonly name = 'NotFoundError';
  readonly code = 'not_found';
}

/** Where in which log an integrity problem sits, so a verifier can name the leaf. */
export interface LeafPosition {
  readonly origin: string;
  readonly leafIndex?: number;
  readonly eventId?: string;
}

/** The stored trail is inconsistent (a receipt cannot be rebuilt): an integrity problem, not a client error. */
export class IntegrityError extends AuditTrailError {
  override readonly name = 'IntegrityError';
  readonly code = 'integrity_error';
  constructor(
    message: string,
    readonly position?: LeafPosition,
  ) {
    super(message);
  }
}
