import { describe, expect, it } from 'vitest';
import {
  logOrigin,
  principalCandidates,
  resolveCaller,
  TenantsConfig,
  tenantOfOrigin,
} from '#core/tenancy.ts';

const ACCOUNT = '123456789012';
const role = (name: string, account = ACCOUNT) => `arn:aws:iam::${account}:role/${name}`;
const session = (name: string, account = ACCOUNT) => `arn:aws:sts::${account}:assumed-role/${name}/session-1`;

const config = TenantsConfig.parse({
  tenants: [
    {
      name: 'acme',
      shards: 2,
      writers: [role('AcmeDeployer'), `arn:aws:iam::${ACCOUNT}:user/ci-bot`],
      readers: [role('service-role/AcmeCompliance')],
      auditors: [role('AcmeAuditor')],
    },
    {
      name: 'globex',
      writers: [role('GlobexDeployer')],
      readers: [role('GlobexReader')],
      auditors: [role('GlobexReader')],
    },
  ],
});

describe('resolveCaller', () => {
  it('resolves an assumed-role session ARN (as API Gateway reports it) to the configured role', () => {
    const caller = resolveCaller(config, session('AcmeDeployer'));
    expect(caller).toEqual({ tenant: 'acme', shards: 2, roles: new Set(['writer']) });
  });

  it('resolves a configured role that has a path, by role name and account', () => {
    expect(resolveCaller(config, session('AcmeCompliance'))).toMatchObject({
      tenant: 'acme',
      roles: new Set(['reader']),
    });
  });

  it('resolves an IAM user ARN exactly', () => {
    expect(resolveCaller(config, `arn:aws:iam::${ACCOUNT}:user/ci-bot`)).toMatchObject({
      tenant: 'acme',
      roles: new Set(['writer']),
    });
  });

  it('collects every role a principal holds in its tenant', () => {
    expect(resolveCaller(config, session('GlobexReader'))).toEqual({
      tenant: 'globex',
      shards: 1,
      roles: new Set(['reader', 'auditor']),
    });
  });

  it.each([
    ['an unknown role', session('Intruder')],
    ['a known role name in another account', session('AcmeDeployer', '210987654321')],
    ['a user with a role-like name', `arn:aws:iam::${ACCOUNT}:user/AcmeDeployer`],
    ['a role name that only extends a configured one', session('AcmeDeployerX')],
    ['a role name that only prefixes a configured one', session('AcmeDeploy')],
    ['an empty ARN', ''],
  ])('resolves %s to no tenant', (_name, arn) => {
    expect(resolveCaller(config, arn)).toBeUndefined();
  });

  it('derives the role ARN from a session ARN, keeping the partition', () => {
    expect(principalCandidates('arn:aws-us-gov:sts::123456789012:assumed-role/Deployer/s')).toEqual([
      'arn:aws-us-gov:sts::123456789012:assumed-role/Deployer/s',
      'arn:aws-us-gov:iam::123456789012:role/Deployer',
    ]);
    expect(principalCandidates(role('Deployer'))).toEqual([role('Deployer')]);
  });
});

describe('TenantsConfig', () => {
  it('defaults to one shard and no principals', () => {
    expect(TenantsConfig.parse({ tenants: [{ name: 'solo' }] }).tenants[0]).toEqual({
      name: 'solo',
      shards: 1,
      writers: [],
      readers: [],
      auditors: [],
    });
  });

  it('rejects a principal configured in two tenants, naming both', () => {
    const result = TenantsConfig.safeParse({
      tenants: [
        { name: 'acme', writers: [role('Shared')] },
        { name: 'globex', readers: [role('Shared')] },
      ],
    });
    expect(result.success).toBe(false);
    expect(result.error!.issues).toEqual([
      expect.objectContaining({
        path: ['tenants', 1],
        message: expect.stringMatching(/Shared.*acme.*globex/),
      }),
    ]);
  });

  it('rejects one role configured in two tenants under different paths (IAM role names are unique per account)', () => {
    const result = TenantsConfig.safeParse({
      tenants: [
        { name: 'acme', writers: [role('ci/Deployer')] },
        { name: 'globex', writers: [role('Deployer')] },
      ],
    });
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]!.message).toMatch(/acme.*globex/);
  });

  it('accepts a principal holding several roles in the same tenant', () => {
    expect(
      TenantsConfig.safeParse({ tenants: [{ name: 'acme', readers: [role('R')], auditors: [role('R')] }] })
        .success,
    ).toBe(true);
  });

  it('accepts roles of the same name in different accounts for different tenants', () => {
    const result = TenantsConfig.safeParse({
      tenants: [
        { name: 'acme', writers: [role('Deployer', '111111111111')] },
        { name: 'globex', writers: [role('Deployer', '222222222222')] },
      ],
    });
    expect(result.success).toBe(true);
  });

  it.each([
    ['an uppercase tenant name', { tenants: [{ name: 'Acme' }] }],
    ['a tenant name with a slash', { tenants: [{ name: 'acme/eu' }] }],
    ['no tenants', { tenants: [] }],
    ['zero shards', { tenants: [{ name: 'acme', shards: 0 }] }],
    ['65 shards', { tenants: [{ name: 'acme', shards: 65 }] }],
    ['a principal that is not an IAM ARN', { tenants: [{ name: 'acme', writers: ['Deployer'] }] }],
    ['an unknown key', { tenants: [{ name: 'acme', admins: [] }] }],
  ])('rejects %s', (_name, value) => {
    expect(TenantsConfig.safeParse(value).success).toBe(false);
  });
});

describe('tenantOfOrigin', () => {
  it('reads the tenant back from every origin logOrigin makes', () => {
    for (const deployment of ['audit.example.com', 'audit.example.com/prod', 'a']) {
      for (const tenant of ['acme', 'a', 'team-42', 'x'.repeat(63)]) {
        for (const shard of [0, 7, 63])
          expect(tenantOfOrigin(logOrigin(deployment, tenant, shard))).toBe(tenant);
      }
    }
  });

  it('names no tenant for origins ingest never makes', () => {
    for (const origin of [
      'acme/0',
      '/acme/0',
      'audit.example.com/Acme/0',
      'audit.example.com/acme/01',
      'audit.example.com/acme/x',
      'audit.example.com/acme/',
      '',
    ]) {
      expect({ origin, tenant: tenantOfOrigin(origin) }).toEqual({ origin, tenant: undefined });
    }
  });
});
