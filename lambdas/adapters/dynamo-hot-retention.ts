import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { eventKey, LEDGER_TTL_ATTRIBUTE } from '#core/ledger-layout.ts';

/**
 * Hot retention on the ledger table: once the archiver has stored an event record, it gets a TTL
 * (`expiresAt`, epoch seconds). The update is conditional on the item existing, so it never recreates an
 * item TTL already removed, and keeps an existing TTL, so a redelivered batch does not extend it.
 * (The archiver's `HotRetention` port; kept apart from DynamoLedgerStore because only the archiver may expire records.)
 */
export class DynamoHotRetention {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    readonly days: number,
    private readonly concurrency = 16,
  ) {
    if (!Number.isInteger(days) || days < 1)
      throw new Error(`hot retention must be a whole number of days (at least 1), got ${days}`);
  }

  async expire(events: readonly { tenant: string; eventId: string }[], expiresAt: Date): Promise<void> {
    const epochSeconds = String(Math.floor(expiresAt.getTime() / 1000));
    const queue = [...events];
    const worker = async () => {
      for (let event = queue.shift(); event; event = queue.shift()) await this.expireOne(event, epochSeconds);
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, events.length) }, worker));
  }

  private async expireOne(event: { tenant: string; eventId: string }, epochSeconds: string): Promise<void> {
    const key = eventKey(event.tenant, event.eventId);
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: key.pk }, sk: { S: key.sk } },
          UpdateExpression: 'SET #ttl = if_not_exists(#ttl, :ttl)',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#ttl': LEDGER_TTL_ATTRIBUTE },
          ExpressionAttributeValues: { ':ttl': { N: epochSeconds } },
        }),
      );
    } catch (error) {
      // Gone already (expired or removed): nothing to retain.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}
