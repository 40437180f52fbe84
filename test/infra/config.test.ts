import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, formatPath, loadStageConfig, parseStageConfig } from '../../lib/config/load.ts';
import { DEFAULTS, type StageConfigInput } from '../../lib/config/schema.ts';
import { STAGES } from '../../lib/config/stages/index.ts';

const ROLE = (name: string) => `arn:aws:iam::111111111111:role/${name}`;
const MINIMAL: StageConfigInput = {
  deploymentOrigin: 'audit.example.com/test',
  tenants: [{ name: 'platform', writers: [ROLE('ci')] }],
};

/** The issues ConfigError reports for a config, as `path: message` lines. */
function issuesOf(raw: unknown): string[] {
  try {
    parseStageConfig('test', raw);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.issues.map((issue) => `${issue.path}: ${issue.message}`);
  }
  throw new Error('config was accepted');
}

describe('stage config', () => {
  it('fills in every default from one place when a stage states only origin and tenants', () => {
    const config = parseStageConfig('test', MINIMAL);
    expect(config.signingKeySpec).toBe('ECC_NIST_P256');
    expect(config.archive).toEqual({
      objectLockMode: 'COMPLIANCE',
      objectLockRetentionDays: 365,
      coldStorageAfterDays: 90,
      accessLogExpirationDays: 365,
    });
    expect(config.ledger.hotRetentionDays).toBe(90);
    expect(config.api).toEqual({
      throttling: DEFAULTS.api.throttling,
      tracing: false,
      executionLogLevel: 'OFF',
    });
    expect(config.alerts).toEqual({
      breakGlassActors: [],
      emailRecipients: [],
      productionEnvironments: ['prod', 'production'],
      extraRules: [],
    });
    expect(config.athena).toEqual({
      bytesScannedCutoff: DEFAULTS.athena.bytesScannedCutoff,
      resultsExpirationDays: 30,
    });
    expect(config.monitor).toEqual({ intervalMinutes: 15 });
    expect(config.logRetentionDays).toBe(365);
    expect(config.env).toBeUndefined();
    expect(config.tenants).toEqual([
      { name: 'platform', shards: 1, writers: [ROLE('ci')], readers: [], auditors: [] },
    ]);
  });

  it('loads the dev stage named by the cdk context', () => {
    const { name, config } = loadStageConfig('dev', STAGES);
    expect(name).toBe('dev');
    expect(config.deploymentOrigin).toBe('audit.example.com/dev');
    expect(config.api.throttling).toEqual({ rateLimit: 50, burstLimit: 100 });
  });

  it('accepts RSA_2048 as signing key spec', () => {
    expect(parseStageConfig('test', { ...MINIMAL, signingKeySpec: 'RSA_2048' }).signingKeySpec).toBe(
      'RSA_2048',
    );
  });

  it.each<[string, Partial<StageConfigInput> | Record<string, unknown>, string]>([
    ['rejects an unknown signing key spec', { signingKeySpec: 'RSA_4096' }, 'signingKeySpec: Invalid option'],
    [
      'rejects a tenant name with capitals',
      { tenants: [{ name: 'Platform' }] },
      'tenants[0].name: lowercase letters',
    ],
    [
      'rejects a writer that is not an IAM principal ARN',
      { tenants: [{ name: 'a', writers: ['ci-role'] }] },
      'tenants[0].writers[0]: must be an IAM role or user ARN',
    ],
    [
      'rejects a principal mapped to two tenants',
      {
        tenants: [
          { name: 'a', writers: [ROLE('x')] },
          { name: 'b', readers: [ROLE('x')] },
        ],
      },
      'tenants[1]: principal arn:aws:iam::111111111111:role/x belongs to tenants a and b',
    ],
    ['rejects an empty tenant list', { tenants: [] }, 'tenants: Too small'],
    [
      'rejects a deployment origin with a scheme',
      { deploymentOrigin: 'https://audit.example.com' },
      'deploymentOrigin: must look like host[/path]',
    ],
    [
      'rejects a deployment origin with a trailing slash',
      { deploymentOrigin: 'audit.example.com/' },
      'deploymentOrigin: must look like',
    ],
    [
      'rejects a non-positive throttling rate',
      { api: { throttling: { rateLimit: 0 } } },
      'api.throttling.rateLimit: Too small',
    ],
    [
      'rejects a misspelt field instead of ignoring it',
      { api: { rateLimit: 10 } },
      'api: Unrecognized key: "rateLimit"',
    ],
    [
      'rejects an unknown top-level field',
      { signingKey: 'RSA_2048' },
      '(root): Unrecognized key: "signingKey"',
    ],
    [
      'rejects hot retention longer than the Object Lock retention',
      { archive: { objectLockRetentionDays: 30 }, ledger: { hotRetentionDays: 90 } },
      'ledger.hotRetentionDays: must not exceed archive.objectLockRetentionDays (30)',
    ],
    [
      'rejects an Object Lock mode other than COMPLIANCE',
      { archive: { objectLockMode: 'GOVERNANCE' } },
      'archive.objectLockMode: Invalid input',
    ],
    [
      'rejects a fractional retention',
      { archive: { objectLockRetentionDays: 1.5 } },
      'archive.objectLockRetentionDays: objectLockRetentionDays must be a whole number of days',
    ],
    [
      'rejects an Athena scan cutoff below 10 MB',
      { athena: { bytesScannedCutoff: 1_000 } },
      "athena.bytesScannedCutoff: must be at least 10000000 bytes (Athena's minimum)",
    ],
    [
      'rejects an invalid alert email',
      { alerts: { emailRecipients: ['security'] } },
      'alerts.emailRecipients[0]: Invalid email',
    ],
    [
      'rejects an extra alert rule named like a catalogue rule',
      {
        alerts: {
          extraRules: [
            {
              name: 'policy-change',
              description: 'again',
              severity: 'low',
              pattern: { source: ['audit-trail'] },
            },
          ],
        },
      },
      'alerts.extraRules: alert rule policy-change is defined twice',
    ],
    [
      'rejects an extra alert rule whose pattern EventBridge would not accept',
      {
        alerts: {
          extraRules: [
            { name: 'odd', description: 'odd', severity: 'low', pattern: { source: 'audit-trail' } },
          ],
        },
      },
      'alerts.extraRules[0].pattern: not a supported event pattern',
    ],
    [
      'rejects an empty list of production environments',
      { alerts: { productionEnvironments: [] } },
      'alerts.productionEnvironments: Too small',
    ],
    [
      'rejects a monitor interval under 5 minutes',
      { monitor: { intervalMinutes: 1 } },
      'monitor.intervalMinutes: Too small',
    ],
    [
      'rejects a results expiry of zero days',
      { athena: { resultsExpirationDays: 0 } },
      'athena.resultsExpirationDays: Too small',
    ],
    [
      'rejects a log retention CloudWatch does not offer',
      { logRetentionDays: 100 },
      'logRetentionDays: must be a CloudWatch Logs retention value',
    ],
    [
      'rejects a WAF ACL that is not a regional WAFv2 ACL',
      { api: { webAclArn: 'arn:aws:waf::111111111111:webacl/x' } },
      'api.webAclArn: must be a regional WAFv2 web ACL ARN',
    ],
    [
      'rejects an account id that is not 12 digits',
      { env: { account: '1234' } },
      'env.account: must be a 12-digit AWS account id',
    ],
    [
      'rejects a tenant table too large for the Lambda environment',
      {
        tenants: Array.from({ length: 40 }, (_, i) => ({
          name: `tenant-${i}`,
          writers: [ROLE(`writer-for-tenant-number-${i}`)],
          readers: [ROLE(`reader-for-tenant-number-${i}`)],
        })),
      },
      'tenants: the tenant table is',
    ],
  ])('%s', (_name, override, expected) => {
    const issues = issuesOf({ ...MINIMAL, ...override });
    expect(
      issues.some((issue) => issue.startsWith(expected)),
      `issues were:\n${issues.join('\n')}`,
    ).toBe(true);
  });

  it('rejects with one message naming every invalid field and the stage file', () => {
    expect(() =>
      parseStageConfig('prod', {
        ...MINIMAL,
        signingKeySpec: 'DSA',
        api: { throttling: { burstLimit: -1 } },
      }),
    ).toThrow(
      /^Invalid audit-trail config for stage "prod" \(lib\/config\/stages\/prod\.ts\):\n {2}- signingKeySpec: .+\n {2}- api\.throttling\.burstLimit: .+$/,
    );
  });

  it('rejects an unknown stage and lists the known ones', () => {
    expect(() => loadStageConfig('prod', STAGES)).toThrow(
      'Unknown stage "prod": add lib/config/stages/prod.ts',
    );
    expect(() => loadStageConfig('prod', STAGES)).toThrow('(known stages: dev)');
  });

  it('rejects a missing stage and an unusable stage name', () => {
    expect(() => loadStageConfig(undefined, STAGES)).toThrow('No stage selected: pass -c stage=<name>');
    expect(() => loadStageConfig('Prod_1', STAGES)).toThrow('Invalid stage name "Prod_1"');
  });

  it('formats issue paths as dotted fields with array indexes', () => {
    expect(formatPath(['tenants', 0, 'writers', 2])).toBe('tenants[0].writers[2]');
    expect(formatPath([])).toBe('(root)');
  });

  it('fails the CDK app (what `cdk synth` runs) with the config message and exit code 1', () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'bin/app.ts'], {
      cwd: root,
      encoding: 'utf8',
      env: {
        ...process.env,
        CDK_CONTEXT_JSON: JSON.stringify({ stage: 'nope' }),
        CDK_OUTDIR: mkdtempSync(join(tmpdir(), 'audit-trail-synth-')),
      },
    });
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe(
      'Unknown stage "nope": add lib/config/stages/nope.ts and register it in lib/config/stages/index.ts (known stages: dev).',
    );
  });
});
