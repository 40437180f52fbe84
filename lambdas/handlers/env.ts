import { z } from 'zod';
import { SigningAlgorithm } from '#core/checkpoint.ts';
import { ENV } from '#core/env-names.ts';
import { TenantsConfig } from '#core/tenancy.ts';

/** Reads a required env var at module scope, so a misconfigured function fails at init, not per request. */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}

export const tenantsFromEnv = (): TenantsConfig => {
  const raw = requireEnv(ENV.tenants);
  const parsed = TenantsConfig.safeParse(JSON.parse(raw));
  if (!parsed.success) throw new Error(`${ENV.tenants} is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
};

export const signingAlgorithmFromEnv = () => SigningAlgorithm.parse(requireEnv(ENV.signingAlgorithm));
