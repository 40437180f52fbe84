import type { StageConfigInput } from '../schema.ts';

/**
 * Example stage. Copy it to `<stage>.ts`, register it in `index.ts` and deploy with `-c stage=<stage>`.
 * Anything left out takes the default from `../schema.ts` (DEFAULTS).
 */
export const dev = {
  deploymentOrigin: 'audit.example.com/dev',
  signingKeySpec: 'ECC_NIST_P256',
  tenants: [
    {
      name: 'platform',
      shards: 2,
      writers: ['arn:aws:iam::111111111111:role/ci-deployer'],
      readers: ['arn:aws:iam::111111111111:role/platform-oncall'],
      auditors: ['arn:aws:iam::111111111111:role/compliance-auditor'],
    },
  ],
  api: { throttling: { rateLimit: 50, burstLimit: 100 } },
  archive: { objectLockRetentionDays: 365, coldStorageAfterDays: 90 },
  ledger: { hotRetentionDays: 90 },
  alerts: { breakGlassActors: ['break-glass-admin'], emailRecipients: ['security@example.com'] },
  athena: { bytesScannedCutoff: 1024 ** 3 },
  logRetentionDays: 365,
} satisfies StageConfigInput;
