import { randomBytes } from 'node:crypto';
import type { Role } from '#core/tenancy.ts';
import { LOCAL_ACCOUNT_ID } from './lambda-runtime.ts';
import type { SigV4Credential } from './sigv4.ts';

export const SANDBOX_ROLES = ['writer', 'reader', 'auditor'] as const satisfies readonly Role[];

/** The IAM identity behind a sandbox credential, as API Gateway would report an assumed-role caller. */
export interface SandboxPrincipal {
  readonly role: Role;
  /** `arn:aws:iam::000000000000:role/audit-trail-sandbox-<role>`: what a tenants config lists. */
  readonly roleArn: string;
  /** `arn:aws:sts::000000000000:assumed-role/audit-trail-sandbox-<role>/sandbox`: the caller's userArn. */
  readonly sessionArn: string;
  /** `<role id>:<session name>`: identity.caller and identity.user. */
  readonly caller: string;
}

/** A local access key pair plus who it signs as. */
export interface LocalCredential extends SigV4Credential {
  readonly principal: SandboxPrincipal;
}

export type AccessKeyPair = { readonly accessKeyId: string; readonly secretAccessKey: string };

const SESSION_NAME = 'sandbox';

export function sandboxPrincipal(role: Role): SandboxPrincipal {
  const roleName = `audit-trail-sandbox-${role}`;
  return {
    role,
    roleArn: `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/${roleName}`,
    sessionArn: `arn:aws:sts::${LOCAL_ACCOUNT_ID}:assumed-role/${roleName}/${SESSION_NAME}`,
    // Real role ids start AROA; a LOCAL prefix keeps sandbox identities unmistakable in logs.
    caller: `LOCALROLE${role.toUpperCase()}:${SESSION_NAME}`,
  };
}

const KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * A random key pair for one role. Access key ids are 20 characters like AWS's, but start with
 * `LOCAL<ROLE>` instead of AKIA/ASIA, so they can never be mistaken for (or scanned as) real keys.
 */
export function generateAccessKeyPair(role: Role): AccessKeyPair {
  const prefix = `LOCAL${role.toUpperCase()}`;
  const suffix = [...randomBytes(20 - prefix.length)].map((byte) => KEY_ALPHABET[byte % 32]).join('');
  return { accessKeyId: `${prefix}${suffix}`, secretAccessKey: randomBytes(30).toString('base64url') };
}

/** True for ids shaped like real AWS access keys, which the sandbox refuses to store. */
export function looksLikeAwsAccessKey(accessKeyId: string): boolean {
  return /^(AKIA|ASIA|AIDA|AROA|ABIA|ACCA)[A-Z0-9]{12,}$/.test(accessKeyId);
}
