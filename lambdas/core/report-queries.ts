/**
 * The catalogue of named compliance queries, defined once: CDK deploys each as an Athena named query over
 * the Glue table `audit_events`, and the CLI runs the same SQL text on Athena or on DuckDB over a local copy
 * of the archive (docs/REPORTS.md).
 *
 * Dialect: the SQL is the common subset of Trino (Athena engine 3) and DuckDB, with one exception DuckDB
 * gets as a macro (`DUCKDB_COMPATIBILITY_SQL`): Trino's `cardinality(array)`. Struct fields are written
 * in lower case (Glue lower-cases them; DuckDB resolves identifiers case-insensitively). Times compare as
 * strings: `receivedAt` is always `Date#toISOString()` output (UTC, milliseconds, `Z`), so lexical order is
 * time order and no engine-specific timestamp parsing is needed.
 *
 * Parameters are `?` placeholders bound positionally (Athena ExecutionParameters, DuckDB prepared
 * statements); `bindParameters` validates user values and lists them in placeholder order, always as
 * strings (SQL casts where a number is needed), so user input never becomes SQL text.
 *
 * Periods are by server receive time (`receivedAt`), the clock a caller cannot set, which is also what the
 * archive is partitioned by (`dt`), so every query restricts `dt` and Athena prunes partitions.
 */

/** Name of the Glue table (and of the DuckDB view the local engine creates). */
export const AUDIT_EVENTS_TABLE = 'audit_events';

type ColumnType =
  | 'string'
  | 'bigint'
  | { struct: readonly Field[] }
  | { array: ColumnType }
  | { map: ColumnType };
interface Field {
  /** As the archive's JSON spells it; Glue gets it lower-cased. */
  readonly name: string;
  readonly type: ColumnType;
}

const str = (...names: string[]): Field[] => names.map((name) => ({ name, type: 'string' }));

/** The record as reports see it: client fields (schema.ts) and server fields (record.ts); `change` keeps only its summary. */
const RECORD_FIELDS: readonly Field[] = [
  ...str('id', 'time', 'action', 'category', 'outcome'),
  { name: 'actor', type: { struct: str('type', 'id', 'name', 'ip', 'userAgent') } },
  { name: 'resources', type: { array: { struct: str('type', 'id', 'name') } } },
  { name: 'source', type: { struct: str('system', 'environment', 'region', 'account') } },
  { name: 'change', type: { struct: str('summary') } },
  ...str('reason', 'correlationId'),
  { name: 'metadata', type: { map: 'string' } },
  ...str('tenant', 'receivedAt'),
  { name: 'caller', type: { struct: str('principalArn', 'accountId', 'sourceIp', 'userAgent') } },
];

/**
 * One line of an events object (archive-layout.ts `ArchivedEvent`). `eventId` repeats `record.id` (null in
 * lines archived before it existed); both engines ignore keys not listed here.
 */
const EVENT_FIELDS: readonly Field[] = [
  { name: 'origin', type: 'string' },
  { name: 'leafIndex', type: 'bigint' },
  { name: 'leafHash', type: 'string' },
  { name: 'appendStart', type: 'bigint' },
  { name: 'eventId', type: 'string' },
  { name: 'record', type: { struct: RECORD_FIELDS } },
];

function glueType(type: ColumnType): string {
  if (type === 'string' || type === 'bigint') return type;
  if ('array' in type) return `array<${glueType(type.array)}>`;
  if ('map' in type) return `map<string,${glueType(type.map)}>`;
  return `struct<${type.struct.map((field) => `${field.name.toLowerCase()}:${glueType(field.type)}`).join(',')}>`;
}

/**
 * Glue column schema of `audit_events` (consumed by CDK). SerDe: `org.openx.data.jsonserde.JsonSerDe`, whose
 * keys are case-insensitive, so `receivedAt` in the JSON fills `receivedat`. Partition keys (projected):
 * `AUDIT_EVENTS_PARTITION_KEYS`.
 */
export const AUDIT_EVENTS_COLUMNS: ReadonlyArray<{ readonly name: string; readonly type: string }> =
  EVENT_FIELDS.map((field) => ({
    name: field.name.toLowerCase(),
    type: glueType(field.type),
  }));

/** `events/tenant=<t>/dt=<YYYY-MM-DD>/`: partition projection `tenant` (enum of configured tenants), `dt` (date, yyyy-MM-dd). */
export const AUDIT_EVENTS_PARTITION_KEYS: ReadonlyArray<{ readonly name: string; readonly type: string }> = [
  { name: 'tenant', type: 'string' },
  { name: 'dt', type: 'string' },
];

const quoteDuck = (name: string) => `"${name}"`;

function duckType(type: ColumnType): string {
  if (type === 'string') return 'VARCHAR';
  if (type === 'bigint') return 'BIGINT';
  if ('array' in type) return `${duckType(type.array)}[]`;
  if ('map' in type) return `MAP(VARCHAR, ${duckType(type.map)})`;
  return `STRUCT(${type.struct.map((field) => `${quoteDuck(field.name)} ${duckType(field.type)}`).join(', ')})`;
}

/**
 * The same schema as DuckDB columns, for `read_json(columns = …)` and for an empty table of that shape.
 * JSON keys match case-sensitively there, so the archive's own spelling is kept; queries still use lower
 * case (DuckDB binds identifiers case-insensitively).
 */
export const duckdbColumns = (): ReadonlyArray<readonly [name: string, type: string]> =>
  EVENT_FIELDS.map((field) => [field.name, duckType(field.type)] as const);

/**
 * The dialect shim, as DuckDB macros run once per connection. Trino's `cardinality(array)` is DuckDB's
 * `len(list)` (DuckDB's own `cardinality` takes maps only, and no query measures a map).
 */
export const DUCKDB_COMPATIBILITY_SQL = [
  'CREATE OR REPLACE TEMP MACRO cardinality(list) AS len(list)',
] as const;

// ---------------------------------------------------------------------------------------------------------
// Parameters

export type ParameterType = 'timestamp' | 'string' | 'integer' | 'weekdays' | 'list';

export interface ReportParameter {
  readonly name: string;
  readonly description: string;
  readonly required: boolean;
  readonly default?: string;
  readonly type: ParameterType;
  /** Inclusive bounds of an integer parameter. */
  readonly range?: readonly [number, number];
}

export interface ReportQuery {
  readonly name: string;
  readonly description: string;
  readonly parameters: readonly ReportParameter[];
  /** Athena engine 3 / DuckDB SQL with `?` placeholders. */
  readonly sql: string;
  /** What each `?` binds, in order: a parameter name or a derived partition bound (`DERIVED_PLACEHOLDERS`). */
  readonly placeholders: readonly string[];
}

/** Placeholders computed from parameters: `dt` bounds that let Athena prune partitions. */
export const DERIVED_PLACEHOLDERS = {
  fromPartition:
    "the dt partition of `from` minus one day (an object is filed under its first record's date)",
  toPartition: 'the dt partition of the last instant before `to`',
  sincePartition: 'the dt partition of `since` minus one day',
} as const;
type Derived = keyof typeof DERIVED_PLACEHOLDERS;

/** Largest parameter value Athena accepts (ExecutionParameters entries are at most 1024 characters). */
export const MAX_PARAMETER_LENGTH = 1000;

const FROM: ReportParameter = {
  name: 'from',
  type: 'timestamp',
  required: true,
  description: 'Start of the period, inclusive (RFC 3339 or YYYY-MM-DD, UTC), compared with receivedAt',
};
const TO: ReportParameter = {
  name: 'to',
  type: 'timestamp',
  required: true,
  description: 'End of the period, exclusive (RFC 3339 or YYYY-MM-DD, UTC)',
};
const TENANT: ReportParameter = {
  name: 'tenant',
  type: 'string',
  required: false,
  default: '*',
  description: 'Tenant to report on; * for every tenant',
};
const PERIOD = [FROM, TO, TENANT] as const;

export class ReportParameterError extends Error {
  override readonly name = 'ReportParameterError';
}

export class UnknownReportError extends Error {
  override readonly name = 'UnknownReportError';
}

// ---------------------------------------------------------------------------------------------------------
// SQL building: a tagged template whose `${…}` are placeholders or fragments, never values.

/** A string as a Trino/Athena SQL literal (ExecutionParameters take literals): quotes doubled, nothing else special. */
export const sqlStringLiteral = (value: string) => `'${value.replaceAll("'", "''")}'`;

interface Fragment {
  readonly text: string;
  readonly placeholders: readonly string[];
}
const param = (name: string): Fragment => ({ text: '?', placeholders: [name] });
/** Catalogue text (never user input) spliced into a template. */
const raw = (text: string): Fragment => ({ text, placeholders: [] });
const derived = (name: Derived): Fragment => param(name);

function sql(strings: TemplateStringsArray, ...parts: Fragment[]): Fragment {
  let text = strings[0]!;
  const placeholders: string[] = [];
  parts.forEach((part, i) => {
    text += part.text + strings[i + 1]!;
    placeholders.push(...part.placeholders);
  });
  return { text, placeholders };
}

/**
 * The de-duplicated events received in [from, to) of the chosen tenant(s). Readers must de-duplicate on
 * (origin, leafIndex) (archive-layout.ts); `dt` bounds come first so both engines prune partitions.
 */
const eventsInPeriod = (lowerPartition: Derived = 'fromPartition', lowerTime = 'from') => sql`events AS (
  SELECT origin, leafindex, record, tenant
  FROM (
    SELECT origin, leafindex, record, tenant,
      row_number() OVER (PARTITION BY origin, leafindex ORDER BY dt) AS copy_rank
    FROM audit_events
    WHERE dt BETWEEN ${derived(lowerPartition)} AND ${derived('toPartition')}
      AND (${param('tenant')} = '*' OR tenant = ${param('tenant')})
      AND record.receivedat >= ${param(lowerTime)} AND record.receivedat < ${param('to')}
  ) AS archived
  WHERE copy_rank = 1
)`;

/** Columns of every report that lists events, so outputs read alike. */
const EVENT_COLUMNS = `record.receivedat AS received_at,
  record.time AS event_time,
  tenant,
  record.action AS action,
  record.category AS category,
  record.outcome AS outcome,
  record.actor.type AS actor_type,
  record.actor.id AS actor_id,
  record.resources[1].type AS resource_type,
  record.resources[1].id AS resource_id,
  cardinality(record.resources) AS resource_count,
  record.source.system AS source_system,
  record.source.environment AS environment,
  record.reason AS reason,
  record.id AS event_id,
  origin,
  leafindex AS leaf_index`;
const EVENT_ORDER = 'ORDER BY received_at, origin, leaf_index';

/** Categories whose successful (or unknown-outcome) events change something. */
const CHANGE = `record.category IN ('provisioning', 'configuration', 'deployment', 'policy')
    AND record.outcome IN ('success', 'unknown')`;

/** A dotted segment of the action, matched whole: `('.' || action || '.') LIKE '%.delete.%'`. */
const actionHasSegment = (segments: readonly string[]) =>
  `(${segments.map((segment) => `('.' || lower(record.action) || '.') LIKE '%.${segment}.%'`).join('\n      OR ')})`;

const PRIVILEGE_SEGMENTS = [
  'iam',
  'role',
  'roles',
  'permission',
  'permissions',
  'privilege',
  'privileges',
  'grant',
  'revoke',
  'admin',
  'sudo',
  'policy',
  'policies',
  'acl',
  'trust',
  'assume-role',
  'mfa',
  'access-key',
];
const DELETE_SEGMENTS = [
  'delete',
  'deleted',
  'destroy',
  'destroyed',
  'remove',
  'removed',
  'terminate',
  'terminated',
  'purge',
  'purged',
  'drop',
  'dropped',
];

/** `',' || list || ','` contains `',' || value || ','`: membership in a comma-separated parameter. */
const inList = (list: Fragment, value: string) =>
  sql`strpos(',' || lower(${list}) || ',', ',' || lower(${raw(value)}) || ',') > 0`;

function listing(where: Fragment | string): Fragment {
  const condition = typeof where === 'string' ? raw(where) : where;
  return sql`WITH ${eventsInPeriod()}
SELECT ${raw(EVENT_COLUMNS)}
FROM events
WHERE ${condition}
${raw(EVENT_ORDER)}`;
}

function define(
  name: string,
  description: string,
  extra: readonly ReportParameter[],
  body: Fragment,
  period: readonly ReportParameter[] = PERIOD,
): ReportQuery {
  return {
    name,
    description,
    parameters: [...period, ...extra],
    sql: `${body.text}\n`,
    placeholders: body.placeholders,
  };
}

// ---------------------------------------------------------------------------------------------------------
// The catalogue

const resourceChanges = define(
  'resource-changes',
  'Every event that names a resource (any outcome): who did what to it, when, and why.',
  [
    {
      name: 'resource',
      type: 'string',
      required: true,
      description: 'Resource id, exactly as recorded (e.g. an ARN)',
    },
    {
      name: 'resourceType',
      type: 'string',
      required: false,
      default: '',
      description: 'Resource type; empty for any type',
    },
  ],
  listing(
    sql`cardinality(filter(record.resources, r -> r.id = ${param('resource')}
      AND (${param('resourceType')} = '' OR r.type = ${param('resourceType')}))) > 0`,
  ),
);

const actorActivity = define(
  'actor-activity',
  'Everything one actor (user, service or system) did in the period.',
  [
    { name: 'actor', type: 'string', required: true, description: 'Actor id, exactly as recorded' },
    {
      name: 'actorType',
      type: 'string',
      required: false,
      default: '',
      description: 'user, service or system; empty for any',
    },
  ],
  listing(
    sql`record.actor.id = ${param('actor')} AND (${param('actorType')} = '' OR record.actor.type = ${param('actorType')})`,
  ),
);

const deniedAccess = define(
  'denied-access',
  'Denied events of any category, and failed events of the access category.',
  [],
  listing(`record.outcome = 'denied' OR (record.outcome = 'failure' AND record.category = 'access')`),
);

const privilegedChanges = define(
  'privileged-changes',
  'Policy-category events and events whose action has a privilege segment (iam, role, grant, admin, …).',
  [],
  listing(`record.category = 'policy'\n  OR ${actionHasSegment(PRIVILEGE_SEGMENTS)}`),
);

const productionDeletions = define(
  'production-deletions',
  'Events in production environments whose action has a deletion segment (delete, destroy, remove, terminate, purge, drop).',
  [
    {
      name: 'environments',
      type: 'list',
      required: false,
      default: 'prod,production',
      description: 'Comma-separated environment names counted as production (case-insensitive)',
    },
  ],
  listing(sql`${inList(param('environments'), 'record.source.environment')}
  AND ${raw(actionHasSegment(DELETE_SEGMENTS))}`),
);

const changesWithoutReason = define(
  'changes-without-reason',
  'Changes (provisioning, configuration, deployment or policy; outcome success or unknown) recorded without a reason.',
  [],
  listing(`${CHANGE}\n  AND (record.reason IS NULL OR trim(record.reason) = '')`),
);

/** ISO weekday (Monday 1 … Sunday 7) of receivedAt: days since Monday 1970-01-05, mod 7. */
const WEEKDAY = `(date_diff('day', DATE '1970-01-05', CAST(substr(record.receivedat, 1, 10) AS date)) % 7 + 1)`;
const HOUR = 'CAST(substr(record.receivedat, 12, 2) AS integer)';

const changesOutsideWindow = define(
  'changes-outside-window',
  'Changes received outside the change window: not on an allowed weekday, or outside [startHour, endHour) UTC.',
  [
    {
      name: 'weekdays',
      type: 'weekdays',
      required: false,
      default: '1,2,3,4,5',
      description: 'Allowed ISO weekdays, 1 = Monday … 7 = Sunday',
    },
    {
      name: 'startHour',
      type: 'integer',
      range: [0, 23],
      required: false,
      default: '8',
      description: 'Window opens at this UTC hour',
    },
    {
      name: 'endHour',
      type: 'integer',
      range: [1, 24],
      required: false,
      default: '18',
      description: 'Window closes at this UTC hour (exclusive); below startHour the window spans midnight',
    },
  ],
  listing(sql`${raw(CHANGE)}
  AND NOT (
    ${inList(param('weekdays'), `CAST(${WEEKDAY} AS varchar)`)}
    AND CASE
      WHEN CAST(${param('startHour')} AS integer) <= CAST(${param('endHour')} AS integer)
        THEN ${raw(HOUR)} >= CAST(${param('startHour')} AS integer) AND ${raw(HOUR)} < CAST(${param('endHour')} AS integer)
      ELSE ${raw(HOUR)} >= CAST(${param('startHour')} AS integer) OR ${raw(HOUR)} < CAST(${param('endHour')} AS integer)
    END
  )`),
);

const firstSeenActors = define(
  'first-seen-actors',
  'Actors active in the period who were never seen (in the same tenant) between `since` and the period.',
  [
    {
      name: 'since',
      type: 'timestamp',
      required: false,
      default: '1970-01-01',
      description: 'How far back "never seen" looks; the default scans all history before the period',
    },
  ],
  sql`WITH ${eventsInPeriod('sincePartition', 'since')}
SELECT
  tenant,
  record.actor.type AS actor_type,
  record.actor.id AS actor_id,
  max(record.actor.name) AS actor_name,
  min(record.receivedat) AS first_seen,
  count(*) AS events
FROM events
GROUP BY tenant, record.actor.type, record.actor.id
HAVING min(record.receivedat) >= ${param('from')}
ORDER BY first_seen, tenant, actor_type, actor_id`,
);

const dailySummary = define(
  'daily-summary',
  'Events per UTC day (of receivedAt), tenant, source system and category, with denied and failed counts.',
  [],
  sql`WITH ${eventsInPeriod()}
SELECT
  substr(record.receivedat, 1, 10) AS day,
  tenant,
  record.source.system AS source_system,
  record.category AS category,
  count(*) AS events,
  sum(CASE WHEN record.outcome = 'denied' THEN 1 ELSE 0 END) AS denied,
  sum(CASE WHEN record.outcome = 'failure' THEN 1 ELSE 0 END) AS failed,
  count(DISTINCT record.actor.id) AS actors
FROM events
GROUP BY substr(record.receivedat, 1, 10), tenant, record.source.system, record.category
ORDER BY day, tenant, source_system, category`,
);

/**
 * Integrity violations are recorded in the trail itself: the integrity monitor appends an event with
 * category `system`, action `integrity.violation`, the affected log as its first resource (type
 * `audit-log`, id = origin) and what failed in `change.summary` (docs/REPORTS.md). So they are archived,
 * signed and queryable like any other event.
 */
export const INTEGRITY_VIOLATION_ACTION = 'integrity.violation';

const integrityAlerts = define(
  'integrity-alerts',
  `Integrity violations the monitor recorded (category system, action ${INTEGRITY_VIOLATION_ACTION}).`,
  [],
  sql`WITH ${eventsInPeriod()}
SELECT
  record.receivedat AS received_at,
  tenant,
  record.outcome AS outcome,
  record.resources[1].type AS resource_type,
  record.resources[1].id AS resource_id,
  record.change.summary AS summary,
  record.actor.id AS actor_id,
  record.id AS event_id,
  origin,
  leafindex AS leaf_index
FROM events
WHERE record.category = 'system' AND record.action = ${raw(sqlStringLiteral(INTEGRITY_VIOLATION_ACTION))}
ORDER BY received_at, origin, leaf_index`,
);

/** Every named query, in the order `report --list` shows them. */
export const REPORT_QUERIES: readonly ReportQuery[] = [
  resourceChanges,
  actorActivity,
  deniedAccess,
  privilegedChanges,
  productionDeletions,
  changesWithoutReason,
  changesOutsideWindow,
  firstSeenActors,
  dailySummary,
  integrityAlerts,
];

export function findReport(name: string): ReportQuery {
  const query = REPORT_QUERIES.find((candidate) => candidate.name === name);
  if (!query) {
    throw new UnknownReportError(
      `unknown report ${JSON.stringify(name)}; known: ${REPORT_QUERIES.map((q) => q.name).join(', ')}`,
    );
  }
  return query;
}

// ---------------------------------------------------------------------------------------------------------
// Binding

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

/** Normalizes a period bound to `toISOString()` form, the form `receivedAt` has, so strings compare as times. */
export function normalizeTimestamp(value: string, name: string): string {
  const text = value.trim();
  if (!DATE_ONLY.test(text) && !DATE_TIME.test(text)) {
    throw new ReportParameterError(
      `${name} must be a date (YYYY-MM-DD) or an RFC 3339 date-time, got ${JSON.stringify(value)}`,
    );
  }
  const date = new Date(DATE_ONLY.test(text) ? `${text}T00:00:00Z` : text);
  if (Number.isNaN(date.getTime()))
    throw new ReportParameterError(`${name} is not a valid time: ${JSON.stringify(value)}`);
  return date.toISOString();
}

const DAY_MS = 86_400_000;
const partitionOf = (iso: string, shiftMs = 0) =>
  new Date(Date.parse(iso) + shiftMs).toISOString().slice(0, 10);

function validate(parameter: ReportParameter, raw: string): string {
  if (raw.length > MAX_PARAMETER_LENGTH) {
    throw new ReportParameterError(`${parameter.name} is longer than ${MAX_PARAMETER_LENGTH} characters`);
  }
  switch (parameter.type) {
    case 'timestamp':
      return normalizeTimestamp(raw, parameter.name);
    case 'integer': {
      const [min, max] = parameter.range ?? [0, Number.MAX_SAFE_INTEGER];
      const value = /^\d{1,15}$/.test(raw) ? Number(raw) : Number.NaN;
      if (!(value >= min && value <= max))
        throw new ReportParameterError(
          `${parameter.name} must be a whole number in [${min}, ${max}], got ${JSON.stringify(raw)}`,
        );
      return String(value);
    }
    case 'weekdays':
      if (!/^[1-7](,[1-7])*$/.test(raw)) {
        throw new ReportParameterError(
          `${parameter.name} must list ISO weekdays 1-7 separated by commas, got ${JSON.stringify(raw)}`,
        );
      }
      return raw;
    default:
      return raw;
  }
}

export interface BoundQuery {
  readonly query: ReportQuery;
  /** Validated parameter values by name (defaults filled, timestamps normalized). */
  readonly values: Readonly<Record<string, string>>;
  /** One string per `?`, in order. */
  readonly bindings: readonly string[];
}

/**
 * Validates parameter values, fills defaults and lists one value per placeholder. Unknown or missing
 * parameters fail with ReportParameterError, naming them.
 */
export function bindParameters(
  query: ReportQuery,
  input: Readonly<Record<string, string | undefined>>,
): BoundQuery {
  const known = new Set(query.parameters.map((p) => p.name));
  const unknown = Object.keys(input).filter((name) => !known.has(name) && input[name] !== undefined);
  if (unknown.length > 0) {
    throw new ReportParameterError(
      `report ${query.name} has no parameter ${unknown.join(', ')}; it takes ${[...known].join(', ')}`,
    );
  }
  const values: Record<string, string> = {};
  for (const parameter of query.parameters) {
    const raw = input[parameter.name] ?? parameter.default;
    if (raw === undefined)
      throw new ReportParameterError(
        `report ${query.name} needs parameter ${parameter.name}: ${parameter.description}`,
      );
    values[parameter.name] = validate(parameter, raw);
  }
  if (values.from !== undefined && values.to !== undefined && values.from >= values.to) {
    throw new ReportParameterError(`from (${values.from}) must be before to (${values.to})`);
  }
  const derivedValues: Record<Derived, string | undefined> = {
    fromPartition: values.from && partitionOf(values.from, -DAY_MS),
    toPartition: values.to && partitionOf(values.to, -1),
    sincePartition: values.since && partitionOf(values.since, -DAY_MS),
  };
  const bindings = query.placeholders.map((name) => {
    const value = values[name] ?? derivedValues[name as Derived];
    if (value === undefined)
      throw new Error(`report ${query.name}: placeholder ${name} has no value (catalogue bug)`);
    return value;
  });
  return { query, values, bindings };
}
