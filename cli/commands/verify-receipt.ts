import { createPublicKey } from 'node:crypto';
import { Command } from 'commander';
import type { SigningAlgorithm } from '#core/checkpoint.ts';
import { parseCheckpointBody } from '#core/checkpoint.ts';
import { Receipt, verifyReceipt } from '#core/receipt.ts';
import { keyMap, type PublicKeyInfo } from '#core/signer.ts';
import { type CliContext, outputFor } from '../context.ts';
import { EXIT, InputError } from '../errors.ts';
import { parseJsonInput, readInput } from '../io.ts';

interface VerifyReceiptOptions {
  readonly event: string;
  readonly receipt?: string;
  readonly publicKey: string;
  readonly keyId?: string;
}

/** `verify-receipt`: one event, its receipt and a public key; no network, no credentials. */
export function verifyReceiptCommand(ctx: CliContext): Command {
  return new Command('verify-receipt')
    .description('check one event against its receipt with nothing but the public key (offline)')
    .requiredOption(
      '--event <file>',
      'the stored record (JSON), or the {event, receipt} answer of GET /v1/events/{id}',
    )
    .option('--receipt <file>', 'the receipt (JSON); optional when --event holds {event, receipt}')
    .requiredOption('--public-key <file>', 'PEM public key, or the JSON answer of GET /v1/public-keys')
    .option('--key-id <id>', "the key's id; defaults to the keyId the receipt names")
    .action(async (options: VerifyReceiptOptions, command: Command) => {
      const out = outputFor(ctx, command);
      const { record, receipt } = await loadEventAndReceipt(ctx, options);
      const keys = await loadKeys(ctx, options, receipt);
      const verdict = verifyReceipt(record, receipt, keyMap(keys));
      if (!verdict.ok) {
        out.data({ ok: false, check: verdict.check, message: verdict.reason });
        out.text(`receipt does NOT verify (${verdict.check}): ${verdict.reason}`);
        ctx.exitCode = EXIT.failed;
        return;
      }
      const size = parseCheckpointBody(receipt.checkpoint.body).size;
      const result = {
        ok: true,
        eventId: receipt.eventId,
        origin: receipt.origin,
        leafIndex: receipt.leafIndex,
        treeSize: size,
        keyId: receipt.checkpoint.keyId,
      };
      out.data(result);
      out.text(
        `receipt verifies: event ${receipt.eventId} is leaf ${receipt.leafIndex} of ${receipt.origin} at size ${size}, signed by ${receipt.checkpoint.keyId}`,
      );
      ctx.exitCode = EXIT.ok;
    });
}

async function loadEventAndReceipt(
  ctx: CliContext,
  options: VerifyReceiptOptions,
): Promise<{ record: Record<string, unknown>; receipt: Receipt }> {
  const eventJson = parseJsonInput(await readInput(ctx.io, options.event), options.event);
  if (typeof eventJson !== 'object' || eventJson === null || Array.isArray(eventJson)) {
    throw new InputError('invalid_input', `${options.event} must hold one JSON object`);
  }
  const wrapped = 'event' in eventJson && 'receipt' in eventJson && !('id' in eventJson);
  const record = (wrapped ? (eventJson as { event: unknown }).event : eventJson) as Record<string, unknown>;
  const receiptJson = options.receipt
    ? parseJsonInput(await readInput(ctx.io, options.receipt), options.receipt)
    : wrapped
      ? (eventJson as { receipt: unknown }).receipt
      : undefined;
  if (receiptJson === undefined)
    throw new InputError('invalid_input', 'give --receipt FILE, or an --event file holding {event, receipt}');
  const receipt = Receipt.safeParse(receiptJson);
  if (!receipt.success) {
    throw new InputError(
      'invalid_receipt',
      `the receipt is malformed: ${receipt.error.issues[0]?.path.join('.')} ${receipt.error.issues[0]?.message}`,
    );
  }
  return { record, receipt: receipt.data };
}

/** A PEM names no key id: it is taken to be the key the receipt names, unless --key-id says otherwise. */
async function loadKeys(
  ctx: CliContext,
  options: VerifyReceiptOptions,
  receipt: Receipt,
): Promise<PublicKeyInfo[]> {
  const text = await readInput(ctx.io, options.publicKey);
  if (text.trimStart().startsWith('{')) {
    const parsed = parseJsonInput(text, options.publicKey) as { keys?: PublicKeyInfo[] };
    if (!Array.isArray(parsed.keys))
      throw new InputError('invalid_key', `${options.publicKey} has no "keys" list`);
    return parsed.keys;
  }
  let algorithm: SigningAlgorithm;
  try {
    const key = createPublicKey(text);
    algorithm = key.asymmetricKeyType === 'rsa' ? 'RSASSA_PKCS1_V1_5_SHA_256' : 'ECDSA_SHA_256';
  } catch (error) {
    throw new InputError(
      'invalid_key',
      `${options.publicKey} is not a PEM public key: ${(error as Error).message}`,
    );
  }
  return [{ keyId: options.keyId ?? receipt.checkpoint.keyId, algorithm, publicKeyPem: text }];
}
