import {
  AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { bindParameters, findReport } from '#core/report-queries.ts';
import { AthenaQueryError, runAthenaReport } from '../../cli/reports/athena-engine.ts';

const athena = mockClient(AthenaClient);
const sleeps: number[] = [];
const options = () => ({
  client: new AthenaClient({ region: 'eu-west-1' }),
  workgroup: 'audit-trail',
  database: 'audit_trail',
  sleep: async (ms: number) => {
    sleeps.push(ms);
  },
});

const column = (Name: string, Type: string) => ({ Name, Type, Label: Name });
const row = (...values: (string | undefined)[]) => ({
  Data: values.map((VarCharValue) => (VarCharValue === undefined ? {} : { VarCharValue })),
});

beforeEach(() => {
  athena.reset();
  sleeps.length = 0;
});

describe('Athena report engine', () => {
  it('starts the catalogue SQL with quoted ExecutionParameters in the workgroup, polls with backoff, pages results', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-1' });
    athena
      .on(GetQueryExecutionCommand)
      .resolvesOnce({ QueryExecution: { Status: { State: 'QUEUED' } } })
      .resolvesOnce({ QueryExecution: { Status: { State: 'RUNNING' } } })
      .resolvesOnce({ QueryExecution: { Status: { State: 'RUNNING' } } })
      .resolves({ QueryExecution: { Status: { State: 'SUCCEEDED' } } });
    const metadata = {
      ColumnInfo: [column('actor_id', 'varchar'), column('events', 'bigint'), column('reason', 'varchar')],
    };
    athena
      .on(GetQueryResultsCommand, { QueryExecutionId: 'q-1', NextToken: undefined })
      .resolves({
        ResultSet: {
          ResultSetMetadata: metadata,
          Rows: [row('actor_id', 'events', 'reason'), row('alice', '3', undefined)],
        },
        NextToken: 'page-2',
      })
      .on(GetQueryResultsCommand, { QueryExecutionId: 'q-1', NextToken: 'page-2' })
      .resolves({ ResultSet: { ResultSetMetadata: metadata, Rows: [row('bob', '1', 'CHG-1')] } });

    const bound = bindParameters(findReport('actor-activity'), {
      from: '2026-03-02',
      to: '2026-03-09',
      actor: "o'hara",
    });
    const result = await runAthenaReport(bound, options());

    expect(result).toEqual({
      columns: ['actor_id', 'events', 'reason'],
      rows: [
        { actor_id: 'alice', events: 3, reason: null },
        { actor_id: 'bob', events: 1, reason: 'CHG-1' },
      ],
    });
    const start = athena.commandCalls(StartQueryExecutionCommand)[0]!.args[0].input;
    expect(start).toEqual({
      QueryString: findReport('actor-activity').sql,
      WorkGroup: 'audit-trail',
      QueryExecutionContext: { Database: 'audit_trail', Catalog: 'AwsDataCatalog' },
      ExecutionParameters: bound.bindings.map((value) => `'${value.replaceAll("'", "''")}'`),
    });
    expect(start.ExecutionParameters).toContain("'o''hara'");
    expect(sleeps).toEqual([250, 500, 1000]);
    expect(athena.commandCalls(GetQueryResultsCommand)).toHaveLength(2);
  });

  it("fails with Athena's reason when the query fails", async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-2' });
    athena.on(GetQueryExecutionCommand).resolves({
      QueryExecution: { Status: { State: 'FAILED', StateChangeReason: 'TABLE_NOT_FOUND: audit_events' } },
    });
    const bound = bindParameters(findReport('denied-access'), { from: '2026-03-02', to: '2026-03-09' });
    await expect(runAthenaReport(bound, options())).rejects.toThrow(
      /q-2 failed: TABLE_NOT_FOUND: audit_events/,
    );
    await expect(runAthenaReport(bound, options())).rejects.toBeInstanceOf(AthenaQueryError);
    expect(athena.commandCalls(GetQueryResultsCommand)).toHaveLength(0);
  });

  it('fails after the timeout instead of polling forever', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-3' });
    athena.on(GetQueryExecutionCommand).resolves({ QueryExecution: { Status: { State: 'RUNNING' } } });
    const bound = bindParameters(findReport('denied-access'), { from: '2026-03-02', to: '2026-03-09' });
    await expect(runAthenaReport(bound, { ...options(), timeoutMs: 3000 })).rejects.toThrow(
      /q-3 still RUNNING/,
    );
    expect(sleeps).toEqual([250, 500, 1000, 2000]);
  });
});
