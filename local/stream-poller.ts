import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type GetShardIteratorCommandInput,
  ResourceNotFoundException,
  type AttributeValue as SdkAttributeValue,
  type _Record as SdkRecord,
  type Shard,
  TrimmedDataAccessException,
} from '@aws-sdk/client-dynamodb-streams';
import type { AttributeValue, DynamoDBRecord } from 'aws-lambda';
import { lambdaContext, type StreamHandler } from './lambda-runtime.ts';

/**
 * Feeds the ledger table's DynamoDB Local stream to the stream consumers the way a Lambda event source
 * mapping does: batches in shard order, partial batch responses, bisect on error, bounded retries, then
 * an on-failure destination (a JSONL dead-letter file) so no record is ever silently dropped. Each
 * consumer keeps its own position, like separate event source mappings.
 */

export interface StreamConsumer {
  /** Unique; names the consumer's position and dead letters. */
  readonly name: string;
  readonly handler: StreamHandler;
}

export interface StreamPollerOptions {
  readonly streamArn: string;
  readonly endpoint: string;
  /** Reported as awsRegion in records. */
  readonly region: string;
  readonly consumers: readonly StreamConsumer[];
  /** Records per invocation. @default 100 */
  readonly batchSize?: number;
  /** Retries of a failing batch before it goes to the dead letters. @default 3 */
  readonly maxRetryAttempts?: number;
  /** Split a batch in two when the handler throws (does not count as a retry). @default true */
  readonly bisectBatchOnError?: boolean;
  /** Honour `{ batchItemFailures }` responses. @default true */
  readonly reportBatchItemFailures?: boolean;
  /** Where a consumer without a saved position starts. @default 'TRIM_HORIZON' */
  readonly startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  /** Pause after a poll that found nothing. @default 200 */
  readonly pollIntervalMs?: number;
  /** First retry delay, doubled per retry. @default 100 */
  readonly retryBaseDelayMs?: number;
  /** The on-failure destination, one JSON object per line. @default - in memory only */
  readonly deadLetterFile?: string;
  /** Keeps positions across restarts (for a persisted sandbox). @default - start at startingPosition */
  readonly positionsFile?: string;
  /** The handlers' timeout as context.getRemainingTimeInMillis() reports it. @default 60000 */
  readonly functionTimeoutMs?: number;
  readonly log?: (message: string) => void;
}

/** A batch that failed every retry, as written to the dead-letter file. */
export interface DeadLetter {
  readonly consumer: string;
  readonly shardId: string;
  readonly failedAt: string;
  /** Invocations of the batch (first try plus retries). */
  readonly attempts: number;
  readonly error: { readonly name: string; readonly message: string; readonly stack?: string };
  readonly records: readonly DynamoDBRecord[];
}

/** Where a consumer stands in one shard. */
interface ShardState {
  readonly shardId: string;
  readonly parentShardId?: string;
  readonly startingSequence: bigint;
  iterator?: string;
  /** Last sequence number handed to the consumer (delivered or dead-lettered). */
  checkpoint?: string;
  finished: boolean;
}

interface ConsumerState {
  readonly consumer: StreamConsumer;
  readonly shards: Map<string, ShardState>;
  /** Cycles started / last cycle that found nothing to do. */
  cycle: number;
  lastIdleCycle: number;
  lastError?: unknown;
  wake?: () => void;
  loop?: Promise<void>;
}

type Outcome =
  | { readonly kind: 'ok' }
  | { readonly kind: 'partial'; readonly index: number; readonly error: Error }
  | { readonly kind: 'error'; readonly error: unknown };

export class StreamPoller {
  readonly #options: StreamPollerOptions;
  readonly #client: DynamoDBStreamsClient;
  readonly #states: ConsumerState[];
  readonly #deadLetters: DeadLetter[] = [];
  readonly #cycleListeners = new Set<() => void>();
  /** Bumped on every delivery: a quiet period must see no change of it. */
  #activity = 0;
  #started = false;
  #stopped = false;
  /** Shards that existed when the poller started: the only ones LATEST applies to. */
  #initialShards?: Set<string>;

  constructor(options: StreamPollerOptions) {
    const names = options.consumers.map((consumer) => consumer.name);
    const duplicate = names.find((name, i) => names.indexOf(name) !== i);
    if (duplicate !== undefined) throw new Error(`two stream consumers are named ${duplicate}`);
    this.#options = options;
    this.#client = new DynamoDBStreamsClient({
      endpoint: options.endpoint,
      region: options.region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const saved = this.#loadPositions();
    this.#states = options.consumers.map((consumer) => ({
      consumer,
      shards: new Map(
        Object.entries(saved[consumer.name] ?? {}).map(([shardId, checkpoint]) => [
          shardId,
          { shardId, startingSequence: 0n, checkpoint, finished: false },
        ]),
      ),
      cycle: 0,
      lastIdleCycle: 0,
    }));
  }

  /** Batches that exhausted their retries, oldest first (also appended to deadLetterFile). */
  get deadLetters(): readonly DeadLetter[] {
    return this.#deadLetters;
  }

  /** Starts one polling loop per consumer. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const state of this.#states) state.loop = this.#run(state);
  }

  /** Stops polling after the in-flight invocations finish. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const state of this.#states) state.wake?.();
    await Promise.all(this.#states.map((state) => state.loop));
    this.#notifyCycle();
    this.#client.destroy();
  }

  /**
   * Resolves once every consumer has caught up with the stream: each has polled every shard and found
   * nothing new, with no delivery by any consumer in between (handlers may write to the table, which
   * feeds the stream again).
   */
  async waitForIdle(options: { timeoutMs?: number } = {}): Promise<void> {
    if (!this.#started) throw new Error('the stream poller is not started');
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    for (;;) {
      const activity = this.#activity;
      const marks = this.#states.map((state) => state.cycle);
      for (const state of this.#states) state.wake?.();
      await this.#until(() => this.#states.every((state, i) => state.lastIdleCycle > marks[i]!), deadline);
      if (this.#activity === activity) return;
    }
  }

  /** Same as waitForIdle(). */
  drain(options?: { timeoutMs?: number }): Promise<void> {
    return this.waitForIdle(options);
  }

  #until(condition: () => boolean, deadline: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (condition()) return finish(resolve);
        if (this.#stopped) return finish(() => reject(new Error('the stream poller was stopped')));
        if (Date.now() > deadline) return finish(() => reject(this.#lagError()));
      };
      const timer = setInterval(check, 250);
      const finish = (settle: () => void) => {
        clearInterval(timer);
        this.#cycleListeners.delete(check);
        settle();
      };
      this.#cycleListeners.add(check);
      check();
    });
  }

  #lagError(): Error {
    const behind = this.#states
      .filter((state) => state.lastIdleCycle < state.cycle)
      .map(
        (state) =>
          `${state.consumer.name}${state.lastError ? ` (last error: ${describe(state.lastError)})` : ''}`,
      );
    return new Error(
      `stream consumers did not catch up in time: ${behind.join(', ') || 'new records kept arriving'}`,
    );
  }

  #notifyCycle(): void {
    for (const listener of [...this.#cycleListeners]) listener();
  }

  async #run(state: ConsumerState): Promise<void> {
    while (!this.#stopped) {
      const cycle = ++state.cycle;
      let progress = 0;
      let failed = false;
      try {
        await this.#refreshShards(state);
        for (const shard of this.#readyShards(state)) {
          if (this.#stopped) break;
          progress += await this.#pollShard(state, shard);
        }
        state.lastError = undefined;
      } catch (error) {
        failed = true;
        state.lastError = error;
        this.#options.log?.(`stream consumer ${state.consumer.name}: polling failed: ${describe(error)}`);
      }
      if (progress === 0 && !failed) state.lastIdleCycle = cycle;
      this.#notifyCycle();
      if (progress === 0) await this.#sleep(state, (this.#options.pollIntervalMs ?? 200) * (failed ? 5 : 1));
    }
  }

  #sleep(state: ConsumerState, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        state.wake = undefined;
        resolve();
      }
      state.wake = done;
    });
  }

  /** Adds shards the stream gained (DynamoDB rolls shards over and splits them). */
  async #refreshShards(state: ConsumerState): Promise<void> {
    const shards = await this.#describeShards();
    this.#initialShards ??= new Set(shards.map((shard) => shard.ShardId!));
    const listed = new Set<string>();
    for (const shard of shards) {
      listed.add(shard.ShardId!);
      const known = state.shards.get(shard.ShardId!);
      const startingSequence = BigInt(shard.SequenceNumberRange?.StartingSequenceNumber ?? '0');
      state.shards.set(shard.ShardId!, {
        ...known,
        shardId: shard.ShardId!,
        parentShardId: shard.ParentShardId,
        startingSequence,
        finished: known?.finished ?? false,
      });
    }
    // Shards trimmed from the stream (24 h retention) can hold nothing more to read.
    for (const shardId of state.shards.keys()) if (!listed.has(shardId)) state.shards.delete(shardId);
  }

  async #describeShards(): Promise<Shard[]> {
    const shards: Shard[] = [];
    let exclusiveStartShardId: string | undefined;
    do {
      const { StreamDescription: description } = await this.#client.send(
        new DescribeStreamCommand({
          StreamArn: this.#options.streamArn,
          ExclusiveStartShardId: exclusiveStartShardId,
        }),
      );
      shards.push(...(description?.Shards ?? []));
      exclusiveStartShardId = description?.LastEvaluatedShardId;
    } while (exclusiveStartShardId);
    return shards;
  }

  /** Unfinished shards whose parent is done (or gone), oldest first: a child never overtakes its parent. */
  #readyShards(state: ConsumerState): ShardState[] {
    const parentDone = (shard: ShardState) => {
      const parent = shard.parentShardId === undefined ? undefined : state.shards.get(shard.parentShardId);
      return parent === undefined || parent.finished;
    };
    return [...state.shards.values()]
      .filter((shard) => !shard.finished && parentDone(shard))
      .sort((a, b) =>
        a.startingSequence < b.startingSequence ? -1 : a.startingSequence > b.startingSequence ? 1 : 0,
      );
  }

  /**
   * Reads one batch from a shard and delivers it. Returns a measure of progress (records delivered, +1
   * if the shard finished): zero means the shard had nothing new.
   */
  async #pollShard(state: ConsumerState, shard: ShardState): Promise<number> {
    const response = await this.#getRecords(shard);
    if (response === undefined) return shard.finished ? 1 : 0;
    const records = response.Records ?? [];
    if (records.length > 0) {
      this.#activity++;
      await this.#deliver(state.consumer, shard.shardId, records.map(this.#toLambdaRecord));
      shard.checkpoint = records.at(-1)!.dynamodb!.SequenceNumber!;
      this.#savePositions();
    }
    shard.iterator = response.NextShardIterator;
    // No next iterator: the shard is closed and fully read, so its children may start.
    if (shard.iterator === undefined) shard.finished = true;
    return records.length + (shard.finished ? 1 : 0);
  }

  async #getRecords(
    shard: ShardState,
  ): Promise<{ Records?: SdkRecord[]; NextShardIterator?: string } | undefined> {
    const limit = this.#options.batchSize ?? 100;
    for (let attempt = 0; ; attempt++) {
      shard.iterator ??= await this.#iterator(shard);
      if (shard.iterator === undefined) return undefined;
      try {
        return await this.#client.send(
          new GetRecordsCommand({ ShardIterator: shard.iterator, Limit: limit }),
        );
      } catch (error) {
        // Iterators expire after 15 minutes: get a fresh one from the checkpoint, once.
        if (error instanceof ExpiredIteratorException && attempt === 0) shard.iterator = undefined;
        else if (error instanceof ResourceNotFoundException) {
          shard.finished = true;
          return undefined;
        } else throw error;
      }
    }
  }

  async #iterator(shard: ShardState): Promise<string | undefined> {
    const base = { StreamArn: this.#options.streamArn, ShardId: shard.shardId };
    const latest = this.#options.startingPosition === 'LATEST' && this.#initialShards?.has(shard.shardId);
    const input: GetShardIteratorCommandInput = shard.checkpoint
      ? { ...base, ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: shard.checkpoint }
      : { ...base, ShardIteratorType: latest ? 'LATEST' : 'TRIM_HORIZON' };
    try {
      return (await this.#client.send(new GetShardIteratorCommand(input))).ShardIterator;
    } catch (error) {
      if (error instanceof TrimmedDataAccessException && shard.checkpoint) {
        this.#options.log?.(
          `stream position ${shard.checkpoint} in ${shard.shardId} was trimmed; reading from the oldest record`,
        );
        shard.checkpoint = undefined;
        return this.#iterator(shard);
      }
      if (error instanceof ResourceNotFoundException) {
        shard.finished = true;
        return undefined;
      }
      throw error;
    }
  }

  /** Invokes a consumer like an event source mapping, ending every record in success or a dead letter. */
  async #deliver(
    consumer: StreamConsumer,
    shardId: string,
    batch: DynamoDBRecord[],
    retries = 0,
  ): Promise<void> {
    const outcome = await this.#invoke(consumer, batch);
    if (outcome.kind === 'ok') return;
    const remaining = batch.slice(outcome.kind === 'partial' ? outcome.index : 0);
    if (outcome.kind === 'error' && (this.#options.bisectBatchOnError ?? true) && remaining.length > 1) {
      const half = Math.ceil(remaining.length / 2);
      await this.#deliver(consumer, shardId, remaining.slice(0, half), retries);
      await this.#deliver(consumer, shardId, remaining.slice(half), retries);
      return;
    }
    if (retries >= (this.#options.maxRetryAttempts ?? 3)) {
      this.#deadLetter(consumer, shardId, remaining, outcome.error, retries + 1);
      return;
    }
    await new Promise((wake) => setTimeout(wake, (this.#options.retryBaseDelayMs ?? 100) * 2 ** retries));
    await this.#deliver(consumer, shardId, remaining, retries + 1);
  }

  async #invoke(consumer: StreamConsumer, batch: DynamoDBRecord[]): Promise<Outcome> {
    const context = lambdaContext({
      functionName: `audit-trail-${consumer.name}`,
      region: this.#options.region,
      timeoutMs: this.#options.functionTimeoutMs ?? 60_000,
    });
    let response: Awaited<ReturnType<StreamHandler>>;
    try {
      response = await consumer.handler({ Records: batch }, context);
    } catch (error) {
      return { kind: 'error', error };
    }
    const failures =
      (this.#options.reportBatchItemFailures ?? true) ? (response?.batchItemFailures ?? []) : [];
    if (failures.length === 0) return { kind: 'ok' };
    const indexes = failures.map((failure) =>
      batch.findIndex((record) => record.dynamodb?.SequenceNumber === failure.itemIdentifier),
    );
    // Lambda treats a failure naming no record of the batch as a failure of the whole batch.
    if (indexes.some((index) => index < 0)) {
      return { kind: 'error', error: new Error('batchItemFailures names a record that is not in the batch') };
    }
    const index = Math.min(...indexes);
    const first = batch[index]!.dynamodb?.SequenceNumber;
    return {
      kind: 'partial',
      index,
      error: new Error(`the handler reported ${failures.length} failed record(s), first ${first}`),
    };
  }

  #deadLetter(
    consumer: StreamConsumer,
    shardId: string,
    records: DynamoDBRecord[],
    error: unknown,
    attempts: number,
  ) {
    const letter: DeadLetter = {
      consumer: consumer.name,
      shardId,
      failedAt: new Date().toISOString(),
      attempts,
      error: errorFields(error),
      records,
    };
    this.#deadLetters.push(letter);
    const file = this.#options.deadLetterFile;
    if (file) {
      mkdirSync(dirname(file), { recursive: true });
      appendFileSync(file, `${JSON.stringify(letter)}\n`);
    }
    this.#options.log?.(
      `stream consumer ${consumer.name}: ${records.length} record(s) failed ${attempts} time(s), sent to the dead letters` +
        `${file ? ` (${file})` : ''}: ${letter.error.message}`,
    );
  }

  /** A stream record as Lambda delivers it: epoch-second timestamps and base64 binaries (JSON, not SDK types). */
  #toLambdaRecord = (record: SdkRecord): DynamoDBRecord => {
    const stream = record.dynamodb ?? {};
    const image = (attributes?: Record<string, SdkAttributeValue>) =>
      attributes && Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, toLambdaAttribute(v)]));
    return withoutUndefined({
      eventID: record.eventID,
      eventName: record.eventName,
      eventVersion: record.eventVersion,
      eventSource: 'aws:dynamodb',
      awsRegion: this.#options.region,
      dynamodb: withoutUndefined({
        ApproximateCreationDateTime:
          stream.ApproximateCreationDateTime && stream.ApproximateCreationDateTime.getTime() / 1000,
        Keys: image(stream.Keys),
        NewImage: image(stream.NewImage),
        OldImage: image(stream.OldImage),
        SequenceNumber: stream.SequenceNumber,
        SizeBytes: stream.SizeBytes,
        StreamViewType: stream.StreamViewType,
      }),
      eventSourceARN: this.#options.streamArn,
      userIdentity: record.userIdentity,
    });
  };

  #loadPositions(): Record<string, Record<string, string>> {
    const file = this.#options.positionsFile;
    if (!file) return {};
    try {
      const saved = JSON.parse(readFileSync(file, 'utf8')) as {
        streamArn?: string;
        consumers?: Record<string, Record<string, string>>;
      };
      // Positions of another stream (the table was recreated) mean nothing here.
      return saved.streamArn === this.#options.streamArn ? (saved.consumers ?? {}) : {};
    } catch {
      return {};
    }
  }

  #savePositions(): void {
    const file = this.#options.positionsFile;
    if (!file) return;
    const consumers = Object.fromEntries(
      this.#states.map((state) => [
        state.consumer.name,
        Object.fromEntries(
          [...state.shards.values()].flatMap((shard) =>
            shard.checkpoint ? [[shard.shardId, shard.checkpoint]] : [],
          ),
        ),
      ]),
    );
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(`${file}.tmp`, JSON.stringify({ streamArn: this.#options.streamArn, consumers }, null, 2));
    renameSync(`${file}.tmp`, file);
  }
}

function toLambdaAttribute(value: SdkAttributeValue): AttributeValue {
  if (value.B !== undefined) return { B: Buffer.from(value.B).toString('base64') };
  if (value.BS !== undefined) return { BS: value.BS.map((b) => Buffer.from(b).toString('base64')) };
  if (value.L !== undefined) return { L: value.L.map(toLambdaAttribute) };
  if (value.M !== undefined) {
    return { M: Object.fromEntries(Object.entries(value.M).map(([k, v]) => [k, toLambdaAttribute(v)])) };
  }
  const { $unknown: _unknown, ...plain } = value as SdkAttributeValue & { $unknown?: unknown };
  return plain as AttributeValue;
}

/** Lambda's JSON has no undefined members: absent means absent (`'OldImage' in record` is false). */
function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function errorFields(error: unknown): DeadLetter['error'] {
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack };
  return { name: 'Error', message: String(error) };
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
