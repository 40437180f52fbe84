/**
 * The ledger table's key schema and indexes, defined once: the CDK construct and the local sandbox both
 * build the table from this, so the deployed and local tables cannot drift.
 *
 * Item kinds (single-table design):
 * - event record:  pk `EVENT#<tenant>#<eventId>`, sk `EVENT`. Keyed by the client's id so a conditional put
 *   (`attribute_not_exists(pk)`) makes the id an idempotency key that can never be overwritten.
 * - append record: pk `LOG#<origin>`, sk `APPEND#<start, 16 digits>`. Immutable; one per ingest request.
 *   The newest one is the log head (size, frontier, checkpoint). Two appenders racing from the same head
 *   both try to create the same key, so exactly one wins: the log cannot fork.
 * - signing key:   pk `KEYS`, sk `<keyId>`: the public key of every key that ever signed a checkpoint.
 */
export const LEDGER_KEYS = { partitionKey: 'pk', sortKey: 'sk' } as const;

export type AttributeKind = 'S' | 'N' | 'B';

export interface IndexDefinition {
  readonly indexName: string;
  readonly partitionKey: { readonly name: string; readonly type: AttributeKind };
  readonly sortKey: { readonly name: string; readonly type: AttributeKind };
}

/**
 * What every index projects besides the keys: only the attributes the read API filters on. Records are
 * fetched from the table by key. Projecting ALL would write each ~1 KB record three more times, and every
 * later attribute update (the archiver's TTL) would be written to every index again.
 */
export const LEDGER_INDEX_PROJECTION = { type: 'INCLUDE', nonKeyAttributes: ['action', 'outcome'] } as const;

/** Global secondary indexes the read API queries (never a scan); each projects LEDGER_INDEX_PROJECTION. */
export const LEDGER_INDEXES = {
  /** All of a tenant's events by event time: `gsiTenant` = tenant, `gsiTime` = `<time>#<eventId>`. */
  byTime: {
    indexName: 'byTime',
    partitionKey: { name: 'gsiTenant', type: 'S' },
    sortKey: { name: 'gsiTime', type: 'S' },
  },
  /** One actor's events: `gsiActor` = `<tenant>#<actor.id>`. */
  byActor: {
    indexName: 'byActor',
    partitionKey: { name: 'gsiActor', type: 'S' },
    sortKey: { name: 'gsiTime', type: 'S' },
  },
  /** Events on one primary resource: `gsiResource` = `<tenant>#<resources[0].id>`. */
  byResource: {
    indexName: 'byResource',
    partitionKey: { name: 'gsiResource', type: 'S' },
    sortKey: { name: 'gsiTime', type: 'S' },
  },
} as const satisfies Record<string, IndexDefinition>;

/** TTL attribute: set on an event record only once the archiver has stored it in the archive. */
export const LEDGER_TTL_ATTRIBUTE = 'expiresAt';

export const eventKey = (tenant: string, eventId: string) => ({
  pk: `EVENT#${tenant}#${eventId}`,
  sk: 'EVENT',
});
export const logPartition = (origin: string) => `LOG#${origin}`;
export const appendSortKey = (start: number) => `APPEND#${String(start).padStart(16, '0')}`;
export const KEYS_PARTITION = 'KEYS';
