import {
  ArnFormat,
  Aws,
  aws_athena as athena,
  aws_cloudwatch as cloudwatch,
  Duration,
  aws_glue as glue,
  aws_iam as iam,
  Stack,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { ARCHIVE_PREFIXES } from '#core/archive-layout.ts';
import {
  AUDIT_EVENTS_COLUMNS,
  AUDIT_EVENTS_PARTITION_KEYS,
  AUDIT_EVENTS_TABLE,
  REPORT_QUERIES,
  type ReportQuery,
} from '#core/report-queries.ts';
import type { ArchiveBucket } from './archive-bucket.ts';
import { ManagedPolicyGrantee } from './grant-helpers.ts';
import type { QueryResultsBucket } from './query-results-bucket.ts';

export interface AuditQueriesProps {
  /** Part of the database and workgroup names. */
  readonly stageName: string;
  readonly archive: ArchiveBucket;
  readonly results: QueryResultsBucket;
  /** Configured tenant names: the `tenant` partition's projected values. */
  readonly tenants: readonly string[];
  /**
   * Per-query scan limit of the workgroup, in bytes (Athena's minimum is 10 MB).
   * @default 1 GiB
   */
  readonly bytesScannedCutoffPerQuery?: number;
  /**
   * First day of the `dt` partition projection (yyyy-MM-dd); the range ends today (NOW).
   * @default '2024-01-01'
   */
  readonly firstPartitionDate?: string;
  /**
   * Named queries to create in the workgroup.
   * @default REPORT_QUERIES - the CLI's report catalogue
   */
  readonly queries?: readonly ReportQuery[];
}

/** Athena actions an auditor needs to run (and read back) queries in the workgroup. */
export const ATHENA_QUERY_ACTIONS = [
  'athena:BatchGetNamedQuery',
  'athena:BatchGetQueryExecution',
  'athena:GetNamedQuery',
  'athena:GetQueryExecution',
  'athena:GetQueryResults',
  'athena:GetQueryRuntimeStatistics',
  'athena:GetWorkGroup',
  'athena:ListNamedQueries',
  'athena:ListQueryExecutions',
  'athena:StartQueryExecution',
  'athena:StopQueryExecution',
] as const;
/** Glue Data Catalog reads Athena makes for a query over the table (partition projection: no GetPartitions). */
export const GLUE_READ_ACTIONS = ['glue:GetDatabase', 'glue:GetTable'] as const;

const ENGINE_VERSION = 'Athena engine version 3';

/**
 * Compliance queries over the archive: a Glue database and the `audit_events` table on
 * `s3://<archive>/events/` (OpenX JSON SerDe over the gzip JSON-lines objects, columns from
 * `AUDIT_EVENTS_COLUMNS`, partitions `tenant`/`dt` by projection, so no crawler and no partition
 * maintenance), an Athena workgroup that enforces its settings (engine 3, results SSE-KMS in the results
 * bucket, a per-query scan cutoff, CloudWatch metrics), one named query per report of the catalogue, and
 * the managed policy that lets an auditor run them.
 */
export class AuditQueries extends Construct {
  readonly database: glue.CfnDatabase;
  readonly table: glue.CfnTable;
  readonly workGroup: athena.CfnWorkGroup;
  readonly namedQueries: Readonly<Record<string, athena.CfnNamedQuery>>;
  readonly databaseName: string;
  readonly workGroupName: string;
  /** Attach to auditors' roles: run the named queries (or any query) in this workgroup. */
  readonly queryPolicy: ManagedPolicyGrantee;
  private readonly archive: ArchiveBucket;
  private readonly results: QueryResultsBucket;

  constructor(scope: Construct, id: string, props: AuditQueriesProps) {
    super(scope, id);
    const cutoff = props.bytesScannedCutoffPerQuery ?? 1024 ** 3;
    const firstDate = props.firstPartitionDate ?? '2024-01-01';
    if (!Number.isInteger(cutoff) || cutoff < 10_000_000) {
      throw new Error(
        `bytesScannedCutoffPerQuery must be a whole number of bytes, at least 10000000, got ${cutoff}`,
      );
    }
    if (!/^\d{4}-\d{2}-\d{2}$/.test(firstDate)) {
      throw new Error(`firstPartitionDate must be yyyy-MM-dd, got ${firstDate}`);
    }
    if (props.tenants.length === 0 || props.tenants.some((tenant) => !/^[a-z0-9-]+$/.test(tenant))) {
      throw new Error(`tenants must be one or more names of [a-z0-9-], got ${JSON.stringify(props.tenants)}`);
    }
    this.archive = props.archive;
    this.results = props.results;
    this.databaseName = `audit_trail_${props.stageName.replace(/-/g, '_')}`;
    this.workGroupName = `audit-trail-${props.stageName}`;

    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: Aws.ACCOUNT_ID,
      databaseInput: {
        name: this.databaseName,
        description: 'Audit trail: the Object Lock archive as tables (docs/REPORTS.md)',
      },
    });

    const eventsLocation = `s3://${props.archive.bucketName}/${ARCHIVE_PREFIXES.events}`;
    const partitionNames = AUDIT_EVENTS_PARTITION_KEYS.map((key) => key.name);
    if (partitionNames.join(',') !== 'tenant,dt') {
      throw new Error(
        `the projection below is written for partitions tenant, dt; the layout has ${partitionNames}`,
      );
    }
    this.table = new glue.CfnTable(this, 'EventsTable', {
      catalogId: Aws.ACCOUNT_ID,
      databaseName: this.databaseName,
      tableInput: {
        name: AUDIT_EVENTS_TABLE,
        description:
          'One row per archived event line (events/…/*.jsonl.gz); de-duplicate on (origin, leafindex)',
        tableType: 'EXTERNAL_TABLE',
        parameters: {
          EXTERNAL: 'TRUE',
          classification: 'json',
          compressionType: 'gzip',
          typeOfData: 'file',
          'projection.enabled': 'true',
          'projection.tenant.type': 'enum',
          'projection.tenant.values': props.tenants.join(','),
          'projection.dt.type': 'date',
          'projection.dt.format': 'yyyy-MM-dd',
          'projection.dt.range': `${firstDate},NOW`,
          'projection.dt.interval': '1',
          'projection.dt.interval.unit': 'DAYS',
          'storage.location.template': `${eventsLocation}tenant=\${tenant}/dt=\${dt}/`,
        },
        partitionKeys: AUDIT_EVENTS_PARTITION_KEYS.map(({ name, type }) => ({ name, type })),
        storageDescriptor: {
          location: eventsLocation,
          columns: AUDIT_EVENTS_COLUMNS.map(({ name, type }) => ({ name, type })),
          // TextInputFormat decompresses by file extension (.gz).
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          compressed: true,
          serdeInfo: {
            serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
            // Keys match case-insensitively (receivedAt -> receivedat); a malformed line fails the query
            // rather than silently dropping an audit record.
            parameters: { 'case.insensitive': 'TRUE', 'ignore.malformed.json': 'FALSE' },
          },
        },
      },
    });
    this.table.addResourceDependency(this.database);

    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: this.workGroupName,
      description: 'Audit trail compliance queries: enforced settings, encrypted results, scan cutoff',
      state: 'ENABLED',
      // The stack is stateless: replacing it must not fail on saved queries or history.
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        requesterPaysEnabled: false,
        bytesScannedCutoffPerQuery: cutoff,
        engineVersion: { selectedEngineVersion: ENGINE_VERSION },
        resultConfiguration: {
          outputLocation: props.results.outputLocation,
          expectedBucketOwner: Aws.ACCOUNT_ID,
          encryptionConfiguration: {
            encryptionOption: 'SSE_KMS',
            kmsKey: props.results.encryptionKey.keyArn,
          },
        },
      },
    });

    const namedQueries: Record<string, athena.CfnNamedQuery> = {};
    for (const query of props.queries ?? REPORT_QUERIES) {
      const named = new athena.CfnNamedQuery(this, `Query-${query.name}`, {
        name: query.name,
        description: query.description.slice(0, 1024),
        database: this.databaseName,
        workGroup: this.workGroupName,
        queryString: query.sql,
      });
      named.addResourceDependency(this.workGroup);
      named.addResourceDependency(this.database);
      namedQueries[query.name] = named;
    }
    this.namedQueries = namedQueries;

    this.queryPolicy = new ManagedPolicyGrantee(this, 'QueryPolicy', {
      description: `audit-trail auditor: run compliance queries in the Athena workgroup ${this.workGroupName} (reads the whole archive)`,
    });
    this.grantRunQueries(this.queryPolicy);
  }

  /** arn:…:athena:<region>:<account>:workgroup/<name> */
  get workGroupArn(): string {
    return Stack.of(this).formatArn({
      service: 'athena',
      resource: 'workgroup',
      resourceName: this.workGroupName,
    });
  }

  /** The catalog, database and table ARNs Glue authorizes a table read against. */
  get glueResourceArns(): string[] {
    const stack = Stack.of(this);
    const glueArn = (resource: string, resourceName?: string) =>
      stack.formatArn({
        service: 'glue',
        resource,
        ...(resourceName ? { resourceName } : {}),
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      });
    return [
      glueArn('catalog'),
      glueArn('database', this.databaseName),
      glueArn('table', `${this.databaseName}/${AUDIT_EVENTS_TABLE}`),
    ];
  }

  /**
   * Everything needed to run queries in the workgroup: the Athena query actions on the workgroup,
   * glue:GetDatabase/GetTable on the catalog, database and table, reading the archive (Athena reads with
   * the caller's credentials; the whole archive, so `audit-trail verify` and `export` work from S3 too),
   * s3:GetBucketLocation on it, and writing results under the results bucket's `results/` prefix.
   */
  grantRunQueries(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: [...ATHENA_QUERY_ACTIONS],
      resourceArns: [this.workGroupArn],
    })
      .combine(
        iam.Grant.addToPrincipal({
          grantee,
          actions: [...GLUE_READ_ACTIONS],
          resourceArns: this.glueResourceArns,
        }),
      )
      .combine(
        iam.Grant.addToPrincipal({
          grantee,
          actions: ['s3:GetBucketLocation'],
          resourceArns: [this.archive.bucketArn],
        }),
      )
      .combine(this.archive.grantArchiveRead(grantee))
      .combine(this.results.grantQueryResults(grantee));
  }

  /** Bytes scanned by queries in the workgroup (AWS/Athena ProcessedBytes, sum over 1 hour). */
  metricProcessedBytes(): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/Athena',
      metricName: 'ProcessedBytes',
      dimensionsMap: { WorkGroup: this.workGroupName },
      statistic: 'Sum',
      period: Duration.hours(1),
    });
  }
}
