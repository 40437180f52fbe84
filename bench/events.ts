import { createHash } from 'node:crypto';
import type { AuditEventInput } from '#core/schema.ts';

/** A deterministic UUID (v4 layout) from a seed, so benchmark runs are repeatable. */
export function seededUuid(seed: string): string {
  const hex = createHash('sha256').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * A realistic deployment event whose stored record (with server fields) is about `recordBytes` long:
 * 1 KB is the unit the cost figures are quoted for.
 */
export function benchEvent(i: number, recordBytes = 1024): AuditEventInput {
  const base: AuditEventInput = {
    id: seededUuid(`bench-${i}`),
    time: new Date(Date.UTC(2026, 10, 1) + i * 1000).toISOString(),
    action: 'deployment.apply',
    category: 'deployment',
    outcome: 'success',
    actor: { type: 'service', id: `ci-pipeline-${i % 17}`, name: 'CI pipeline' },
    resources: [
      {
        type: 'AWS::CloudFormation::Stack',
        id: `arn:aws:cloudformation:eu-west-1:111111111111:stack/app-${i % 31}/1`,
      },
    ],
    source: {
      system: 'github-actions',
      environment: i % 5 === 0 ? 'production' : 'staging',
      region: 'eu-west-1',
    },
    reason: `CHG-${100000 + i}`,
    correlationId: `run-${i}`,
    metadata: { commit: createHash('sha1').update(String(i)).digest('hex'), attempt: 1, dryRun: false },
  };
  // Server fields add ~260 bytes (tenant, receivedAt, caller ARN, IP, user agent).
  const padding = Math.max(0, recordBytes - 260 - JSON.stringify(base).length - 40);
  return { ...base, change: { summary: 'x'.repeat(padding || 1) } };
}
