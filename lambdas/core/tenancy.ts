import { z } from 'zod';

/** The roles a caller can hold on a tenant. Writers POST events; readers GET events; auditors GET everything. */
export const Role = z.enum(['writer', 'reader', 'auditor']);
export type Role = z.infer<typeof Role>;

const PrincipalArn = z
  .string()
  .regex(/^arn:aws[a-z-]*:(iam|sts)::\d{12}:[\w+=,.@/:-]+$/, 'must be an IAM role or user ARN');

/** A tenant name: part of every log origin and archive key, so kept to a safe alphabet (never a `/`). */
const TENANT_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** The origin of a tenant's log: `<deploymentOrigin>/<tenant>/<shard>`, the first line of its checkpoints. */
export const logOrigin = (deploymentOrigin: string, tenant: string, shard: number) =>
  `${deploymentOrigin}/${tenant}/${shard}`;

/**
 * The tenant a log origin names, or undefined if it is not `<deploymentOrigin>/<tenant>/<shard>`. Every
 * checkpoint signs its origin, so this is how a verifier knows, from signed bytes, whose log it reads.
 */
export function tenantOfOrigin(origin: string): string | undefined {
  const parts = origin.split('/');
  const [tenant, shard] = parts.slice(-2);
  return parts.length >= 3 &&
    parts[0] !== '' &&
    TENANT_NAME.test(tenant ?? '') &&
    /^(0|[1-9]\d*)$/.test(shard ?? '')
    ? tenant
    : undefined;
}

export const TenantConfig = z.strictObject({
  /** Tenant name: part of every log origin and archive key, so kept to a safe alphabet. */
  name: z.string().regex(TENANT_NAME, 'lowercase letters, digits and hyphens, 1-63 chars'),
  /** Number of logs (shards) for the tenant: concurrent writers rarely collide on one log head. */
  shards: z.number().int().min(1).max(64).default(1),
  writers: z.array(PrincipalArn).default([]),
  readers: z.array(PrincipalArn).default([]),
  auditors: z.array(PrincipalArn).default([]),
});
export type TenantConfig = z.infer<typeof TenantConfig>;

/** One key per IAM principal: role names are unique in an account whatever their path. */
const principalKey = (arn: string) => {
  const role = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(arn);
  return role ? `arn:${role[1]}:iam::${role[2]}:role/${role[3]}` : arn;
};

export const TenantsConfig = z
  .strictObject({ tenants: z.array(TenantConfig).min(1) })
  .superRefine((config, ctx) => {
    const owner = new Map<string, string>();
    config.tenants.forEach((tenant, index) => {
      for (const arn of [...tenant.writers, ...tenant.readers, ...tenant.auditors]) {
        const other = owner.get(principalKey(arn));
        if (other !== undefined && other !== tenant.name) {
          ctx.addIssue({
            code: 'custom',
            path: ['tenants', index],
            message: `principal ${arn} belongs to tenants ${other} and ${tenant.name}: a principal maps to one tenant`,
          });
        }
        owner.set(principalKey(arn), tenant.name);
      }
    });
  });
export type TenantsConfig = z.infer<typeof TenantsConfig>;

export interface Caller {
  readonly tenant: string;
  readonly shards: number;
  readonly roles: ReadonlySet<Role>;
}

/**
 * An assumed-role session ARN (`arn:aws:sts::123:assumed-role/Name/session`) as API Gateway reports it
 * names the role `arn:aws:iam::123:role/Name`; the config lists role ARNs. Role paths are not in the
 * session ARN, so configured roles are compared by name too.
 */
export function principalCandidates(principalArn: string): string[] {
  const assumed = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/.+$/.exec(principalArn);
  if (!assumed) return [principalArn];
  const [, partition, account, roleName] = assumed;
  return [principalArn, `arn:${partition}:iam::${account}:role/${roleName}`];
}

const roleName = (arn: string) => /^arn:aws[a-z-]*:iam::\d{12}:role\/(?:.*\/)?([^/]+)$/.exec(arn)?.[1];

/** Resolves which tenant a principal belongs to and its roles there; undefined if it is not configured. */
export function resolveCaller(config: TenantsConfig, principalArn: string): Caller | undefined {
  const candidates = principalCandidates(principalArn);
  const matches = (configured: string) =>
    candidates.some(
      (candidate) =>
        candidate === configured ||
        (candidate.includes(':role/') &&
          roleName(configured) === roleName(candidate) &&
          configured.split(':')[4] === candidate.split(':')[4]),
    );
  for (const tenant of config.tenants) {
    const roles = new Set<Role>();
    if (tenant.writers.some(matches)) roles.add('writer');
    if (tenant.readers.some(matches)) roles.add('reader');
    if (tenant.auditors.some(matches)) roles.add('auditor');
    if (roles.size > 0) return { tenant: tenant.name, shards: tenant.shards, roles };
  }
  return undefined;
}
