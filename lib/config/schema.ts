import { aws_logs as logs } from 'aws-cdk-lib';
import { z } from 'zod';
import { AlertRule, buildAlertRules, DEFAULT_PRODUCTION_ENVIRONMENTS } from '#core/alert-rules.ts';
import { TenantsConfig } from '#core/tenancy.ts';

/**
 * Every default of the stage config, in one place (also listed in docs/DEPLOYMENT.md).
 * A stage file only states what differs from these.
 */
export const DEFAULTS = {
  signingKeySpec: 'ECC_NIST_P256',
  api: {
    throttling: { rateLimit: 100, burstLimit: 200 },
    tracing: false,
    executionLogLevel: 'OFF',
  },
  archive: {
    objectLockMode: 'COMPLIANCE',
    objectLockRetentionDays: 365,
    coldStorageAfterDays: 90,
    accessLogExpirationDays: 365,
  },
  ledger: { hotRetentionDays: 90 },
  alerts: {
    breakGlassActors: [] as string[],
    emailRecipients: [] as string[],
    productionEnvironments: [...DEFAULT_PRODUCTION_ENVIRONMENTS] as string[],
    extraRules: [] as AlertRule[],
  },
  athena: { bytesScannedCutoff: 1024 ** 3, resultsExpirationDays: 30 },
  monitor: { intervalMinutes: 15 },
  logRetentionDays: 365,
} as const;

/** Lambda caps the whole environment at 4 KB; the tenant table must leave room for the other variables. */
export const MAX_TENANTS_JSON_BYTES = 3072;

/** Athena rejects a per-query scan cutoff below 10 MB. */
const ATHENA_MIN_CUTOFF = 10_000_000;

const LOG_RETENTION_VALUES = Object.values(logs.RetentionDays).filter(
  (v): v is number => typeof v === 'number',
);

const days = (what: string) => z.number().int(`${what} must be a whole number of days`).min(1).max(36_500);

const SigningKeySpec = z.enum(['ECC_NIST_P256', 'RSA_2048']);
export type SigningKeySpec = z.infer<typeof SigningKeySpec>;

const ApiConfig = z.strictObject({
  /** Stage-wide API Gateway throttling (token bucket): steady requests per second and bucket size. */
  throttling: z
    .strictObject({
      rateLimit: z.number().positive().max(10_000).default(DEFAULTS.api.throttling.rateLimit),
      burstLimit: z.number().int().positive().max(5_000).default(DEFAULTS.api.throttling.burstLimit),
    })
    .prefault({}),
  /** X-Ray active tracing on the API stage and the functions. */
  tracing: z.boolean().default(DEFAULTS.api.tracing),
  /**
   * API Gateway execution logs. Anything but OFF needs the account-wide API Gateway CloudWatch role
   * (`AWS::ApiGateway::Account`), which this app does not own. Access logs are always on.
   */
  executionLogLevel: z.enum(['OFF', 'ERROR', 'INFO']).default(DEFAULTS.api.executionLogLevel),
  /** A regional WAFv2 web ACL to associate with the API stage. */
  webAclArn: z
    .string()
    .regex(
      /^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional\/webacl\/.+$/,
      'must be a regional WAFv2 web ACL ARN',
    )
    .optional(),
});

const ArchiveConfig = z.strictObject({
  /** Object Lock mode of the archive bucket. COMPLIANCE only: nobody, root included, can shorten it. */
  objectLockMode: z.literal('COMPLIANCE').default(DEFAULTS.archive.objectLockMode),
  /** Days each archived object is locked against deletion and overwrite. */
  objectLockRetentionDays: days('objectLockRetentionDays').default(DEFAULTS.archive.objectLockRetentionDays),
  /** Days after which archived objects move to a colder storage class (Glacier Instant Retrieval). */
  coldStorageAfterDays: days('coldStorageAfterDays').default(DEFAULTS.archive.coldStorageAfterDays),
  /** Days the archive's server access logs (who read or wrote which object) are kept. */
  accessLogExpirationDays: days('accessLogExpirationDays').default(DEFAULTS.archive.accessLogExpirationDays),
});

const LedgerConfig = z.strictObject({
  /** Days an event record stays in DynamoDB after it is archived (TTL), for fast queries. */
  hotRetentionDays: days('hotRetentionDays').default(DEFAULTS.ledger.hotRetentionDays),
});

const AlertsConfig = z.strictObject({
  /** actor.id values whose every action raises a break-glass alert. */
  breakGlassActors: z.array(z.string().min(1).max(256)).default([...DEFAULTS.alerts.breakGlassActors]),
  /** Email addresses subscribed to alerts. */
  emailRecipients: z.array(z.email()).default([...DEFAULTS.alerts.emailRecipients]),
  /** `source.environment` values that count as production for the production-* rules (case-insensitive). */
  productionEnvironments: z
    .array(z.string().min(1).max(64))
    .min(1)
    .default([...DEFAULTS.alerts.productionEnvironments]),
  /** More alert rules (name, description, severity, EventBridge pattern over the audit bus entries). */
  extraRules: z.array(AlertRule).default([...DEFAULTS.alerts.extraRules]),
});

const AthenaConfig = z.strictObject({
  /** Per-query scan limit of the Athena workgroup, in bytes. */
  bytesScannedCutoff: z
    .number()
    .int()
    .min(ATHENA_MIN_CUTOFF, `must be at least ${ATHENA_MIN_CUTOFF} bytes (Athena's minimum)`)
    .default(DEFAULTS.athena.bytesScannedCutoff),
  /** Days Athena query results are kept in the results bucket. */
  resultsExpirationDays: days('resultsExpirationDays').default(DEFAULTS.athena.resultsExpirationDays),
});

const MonitorConfig = z.strictObject({
  /** Minutes between integrity monitor runs. */
  intervalMinutes: z.number().int().min(5).max(1440).default(DEFAULTS.monitor.intervalMinutes),
});

const EnvConfig = z.strictObject({
  account: z
    .string()
    .regex(/^\d{12}$/, 'must be a 12-digit AWS account id')
    .optional(),
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region name such as eu-west-1')
    .optional(),
});

/**
 * One stage of the audit trail. Built on the domain's `TenantsConfig` (its `tenants` field and the
 * one-principal-one-tenant check), so the Lambdas parse exactly what synth validated.
 */
export const StageConfig = TenantsConfig.safeExtend({
  /**
   * Prefix of every log origin (`<deploymentOrigin>/<tenant>/<shard>`) and so of every checkpoint body:
   * a schema-less URL, e.g. `audit.example.com/prod`. Never change it once a stage holds data.
   */
  deploymentOrigin: z
    .string()
    .max(200)
    .regex(
      /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(\/[A-Za-z0-9._~-]+)*$/,
      'must look like host[/path], e.g. audit.example.com/prod (lowercase host; no scheme, spaces, "+" or trailing "/")',
    ),
  /** Account and region to pin the stacks to; unset means environment-agnostic (resolved at deploy). */
  env: EnvConfig.optional(),
  /** Checkpoint signing key: ECC_NIST_P256 (ECDSA_SHA_256) or RSA_2048 (RSASSA_PKCS1_V1_5_SHA_256). */
  signingKeySpec: SigningKeySpec.default(DEFAULTS.signingKeySpec),
  api: ApiConfig.prefault({}),
  archive: ArchiveConfig.prefault({}),
  ledger: LedgerConfig.prefault({}),
  alerts: AlertsConfig.prefault({}),
  athena: AthenaConfig.prefault({}),
  monitor: MonitorConfig.prefault({}),
  /** Retention of the functions' and the API's CloudWatch log groups (a CloudWatch Logs retention value). */
  logRetentionDays: z
    .number()
    .refine((d) => LOG_RETENTION_VALUES.includes(d), {
      message: `must be a CloudWatch Logs retention value: ${LOG_RETENTION_VALUES.join(', ')}`,
    })
    .default(DEFAULTS.logRetentionDays),
}).superRefine((config, ctx) => {
  if (config.ledger.hotRetentionDays > config.archive.objectLockRetentionDays) {
    ctx.addIssue({
      code: 'custom',
      path: ['ledger', 'hotRetentionDays'],
      message: `must not exceed archive.objectLockRetentionDays (${config.archive.objectLockRetentionDays}): the locked archive is what the hot copy is verified against`,
    });
  }
  try {
    buildAlertRules(alertRulesConfig(config));
  } catch (error) {
    ctx.addIssue({ code: 'custom', path: ['alerts', 'extraRules'], message: (error as Error).message });
  }
  const tenantsJson = Buffer.byteLength(tenantsEnvironmentValue(config));
  if (tenantsJson > MAX_TENANTS_JSON_BYTES) {
    ctx.addIssue({
      code: 'custom',
      path: ['tenants'],
      message: `the tenant table is ${tenantsJson} bytes as JSON, over ${MAX_TENANTS_JSON_BYTES}: it is passed to the Lambdas as an environment variable and Lambda caps the environment at 4 KB`,
    });
  }
});

/** A validated stage config with every default filled in. */
export type StageConfig = z.infer<typeof StageConfig>;
/** What a stage file may write: every field with a default is optional. */
export type StageConfigInput = z.input<typeof StageConfig>;

/** What the alert catalogue (`buildAlertRules`) is built from. */
export function alertRulesConfig(config: Pick<StageConfig, 'alerts'>) {
  const { breakGlassActors, productionEnvironments, extraRules } = config.alerts;
  return { breakGlassActors, productionEnvironments, extraRules };
}

/** The TENANTS_CONFIG environment value: exactly the domain's `TenantsConfig` JSON. */
export function tenantsEnvironmentValue(config: Pick<StageConfig, 'tenants'>): string {
  const value: TenantsConfig = { tenants: config.tenants };
  return JSON.stringify(value);
}
