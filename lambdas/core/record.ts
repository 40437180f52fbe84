import { canonicalize } from './canonical.ts';
import type { AuditEventInput } from './schema.ts';

/** Who called, as API Gateway's IAM authorizer saw it: the server's word, never the client's. */
export interface CallerIdentity {
  readonly principalArn: string;
  readonly accountId: string;
  readonly sourceIp: string;
  readonly userAgent?: string;
}

/** Fields the server adds to every record. */
export interface ServerFields {
  readonly tenant: string;
  /** Server receive time (RFC 3339, UTC, milliseconds). */
  readonly receivedAt: string;
  readonly caller: CallerIdentity;
}

/** The stored record: the client's event plus the server fields. Its canonical bytes are the Merkle leaf. */
export type AuditRecord = AuditEventInput & ServerFields;

const SERVER_FIELDS = ['tenant', 'receivedAt', 'caller'] as const;

export function buildRecord(input: AuditEventInput, server: ServerFields): AuditRecord {
  const caller: CallerIdentity = {
    principalArn: server.caller.principalArn,
    accountId: server.caller.accountId,
    sourceIp: server.caller.sourceIp,
    ...(server.caller.userAgent ? { userAgent: server.caller.userAgent } : {}),
  };
  return { ...input, tenant: server.tenant, receivedAt: server.receivedAt, caller };
}

/** The client's part of a record: what idempotency compares. */
export function clientFields(record: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...record };
  for (const field of SERVER_FIELDS) delete copy[field];
  return copy;
}

/** True if a retry carries the same event as the stored record (server fields may differ). */
export const sameEvent = (input: AuditEventInput, storedRecord: Record<string, unknown>) =>
  canonicalize(input) === canonicalize(clientFields(storedRecord));
