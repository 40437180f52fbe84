import { createHash } from 'node:crypto';
import type { AuditEventInput } from '#core/schema.ts';

/** A version-4 UUID derived from a seed: the same seed always gives the same id. */
export function deterministicUuid(seed: string | number): string {
  const bytes = createHash('sha256').update(`uuid:${seed}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40; // version 4
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // RFC 9562 variant
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const BASE_TIME = Date.UTC(2026, 0, 31, 12, 0, 0);

/**
 * A valid AuditEventInput, fully determined by `seed` (id, time, actor and resource vary with it), with
 * `overrides` replacing whole top-level fields.
 */
export function makeEvent(seed: string | number, overrides: Partial<AuditEventInput> = {}): AuditEventInput {
  const n =
    typeof seed === 'number'
      ? seed
      : Number.parseInt(createHash('sha256').update(seed).digest('hex').slice(0, 8), 16);
  return {
    id: deterministicUuid(seed),
    time: new Date(BASE_TIME + (n % 86_400) * 1000).toISOString(),
    action: 'deployment.apply',
    category: 'deployment',
    outcome: 'success',
    actor: { type: 'service', id: `ci-runner-${n % 3}`, name: 'CI runner' },
    resources: [
      {
        type: 'cloudformation-stack',
        id: `arn:aws:cloudformation:eu-west-1:123456789012:stack/app-${n % 5}/1`,
      },
    ],
    source: { system: 'github-actions', environment: 'prod', region: 'eu-west-1', account: '123456789012' },
    change: { before: { replicas: 2 }, after: { replicas: 3 }, summary: 'scale out' },
    reason: 'CHG-1234',
    metadata: { pipeline: 'deploy', run: n, dryRun: false },
    ...overrides,
  };
}

/** `count` distinct valid events; `prefix` keeps batches of different tests apart. */
export const makeBatch = (count: number, prefix: string): AuditEventInput[] =>
  Array.from({ length: count }, (_, i) => makeEvent(`${prefix}-${i}`));
