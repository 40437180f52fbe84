import { appendFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Command } from 'commander';
import type { Receipt } from '#core/receipt.ts';
import { AuditClient, type BatchResult, EventValidationError } from '../client.ts';
import { resolveConnection } from '../config.ts';
import { type CliContext, globalsOf, outputFor } from '../context.ts';
import { EXIT, InputError, UsageError } from '../errors.ts';
import { parseEventsText } from '../input.ts';
import { type Io, type Output, readInput } from '../io.ts';
import { progressBar } from '../progress.ts';

interface SendOptions {
  readonly receiptsOut?: string;
}

/** `send [FILE|-]`: validate locally, send in batches, print receipts. */
export function sendCommand(ctx: CliContext): Command {
  return new Command('send')
    .description(
      'record events (JSON array, {"events": [...]}, one object, or JSON lines) and print their receipts',
    )
    .argument('[file]', "file of events; '-' or nothing reads stdin")
    .option(
      '--receipts-out <file>',
      'also write the receipts there, one JSON line each, as each batch is accepted',
    )
    .action(async (file: string | undefined, options: SendOptions, command: Command) => {
      const out = outputFor(ctx, command);
      const events = await readEvents(ctx.io, file);
      const connection = await resolveConnection(globalsOf(command), 'writer', ctx.io);
      const client = new AuditClient({
        ...ctx.clientDefaults,
        ...connection,
        onRetry: (retry) =>
          out.note(`retrying ${retry.method} ${retry.path} in ${retry.delayMs} ms (${retry.reason})`),
      });
      const receiptsOut = options.receiptsOut ? resolve(ctx.io.cwd, options.receiptsOut) : undefined;
      if (receiptsOut) await writeFile(receiptsOut, '');
      const progress = progressBar(ctx.io.stderr, 'sending', events.length);
      const summary = new SendSummary();
      try {
        await client.send(events, {
          onBatch: async (batch) => {
            summary.add(batch);
            progress.update(summary.events);
            for (const receipt of batch.receipts) out.data(receipt);
            if (receiptsOut)
              await appendFile(receiptsOut, batch.receipts.map((r) => `${JSON.stringify(r)}\n`).join(''));
          },
        });
      } catch (error) {
        if (error instanceof EventValidationError) throw invalidEvents(error);
        if (summary.events > 0)
          out.note(`${summary.events} of ${events.length} events were recorded before the failure`);
        throw error;
      } finally {
        progress.done();
      }
      summary.print(out, events.length, options.receiptsOut);
      ctx.exitCode = EXIT.ok;
    });
}

async function readEvents(io: Io, file: string | undefined): Promise<unknown[]> {
  const name = file ?? '-';
  if (name === '-' && io.stdin.isTTY)
    throw new UsageError('send needs a FILE of events, or events piped on stdin');
  return parseEventsText(await readInput(io, name), name === '-' ? 'stdin' : name).events;
}

const invalidEvents = (error: EventValidationError) =>
  new InputError(
    'invalid_event',
    `${error.issues.length} problem${error.issues.length === 1 ? '' : 's'} in the events; nothing was sent`,
    {
      issues: error.issues,
    },
  );

/** Counts per request and per log, for a summary a person can check against the receipts. */
class SendSummary {
  events = 0;
  requests = 0;
  replayed = 0;
  private readonly logs = new Map<string, { first: number; last: number; size: number }>();

  add(batch: BatchResult): void {
    this.requests += 1;
    this.events += batch.receipts.length;
    if (batch.status === 200) this.replayed += batch.receipts.length;
    for (const receipt of batch.receipts) this.addReceipt(receipt);
  }

  private addReceipt(receipt: Receipt): void {
    const size = Number(receipt.checkpoint.body.split('\n')[1]);
    const log = this.logs.get(receipt.origin);
    if (!log) {
      this.logs.set(receipt.origin, { first: receipt.leafIndex, last: receipt.leafIndex, size });
      return;
    }
    log.first = Math.min(log.first, receipt.leafIndex);
    log.last = Math.max(log.last, receipt.leafIndex);
    log.size = Math.max(log.size, size);
  }

  print(out: Output, total: number, receiptsOut: string | undefined): void {
    const replayed =
      this.replayed > 0 ? ` (at least ${this.replayed} were already recorded: their original receipts)` : '';
    out.text(
      `recorded ${total} event${total === 1 ? '' : 's'} in ${this.requests} request${this.requests === 1 ? '' : 's'}${replayed}`,
    );
    for (const [origin, log] of this.logs) {
      out.text(`  ${origin}: leaves ${log.first}..${log.last}, signed checkpoint at size ${log.size}`);
    }
    if (receiptsOut) out.text(`receipts written to ${receiptsOut}`);
    else out.text('receipts not kept: use --receipts-out FILE or --json to keep them');
  }
}
