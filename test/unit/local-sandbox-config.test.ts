import { describe, expect, it } from 'vitest';
import { AuditEventInput } from '#core/schema.ts';
import { resolveCaller } from '#core/tenancy.ts';
import { sampleEvent } from '../../local/banner.ts';
import { generateAccessKeyPair, looksLikeAwsAccessKey, sandboxPrincipal } from '../../local/credentials.ts';
import { defaultTenants } from '../../local/sandbox.ts';

describe('sandbox credentials', () => {
  it('generates 20-character access key ids prefixed LOCAL<ROLE>, never shaped like AWS keys', () => {
    for (const role of ['writer', 'reader', 'auditor'] as const) {
      const { accessKeyId, secretAccessKey } = generateAccessKeyPair(role);
      expect(accessKeyId).toMatch(new RegExp(`^LOCAL${role.toUpperCase()}[A-Z2-7]+$`));
      expect(accessKeyId).toHaveLength(20);
      expect(looksLikeAwsAccessKey(accessKeyId)).toBe(false);
      expect(secretAccessKey.length).toBeGreaterThanOrEqual(40);
    }
  });

  it('generates a different pair each time', () => {
    expect(generateAccessKeyPair('writer')).not.toEqual(generateAccessKeyPair('writer'));
  });

  it('recognises real AWS access key ids', () => {
    expect(looksLikeAwsAccessKey(['AKIA', 'IOSFODNN7EXAMPLE'].join(''))).toBe(true);
  });
});

describe('default tenants', () => {
  it('maps each sandbox session to tenant demo with its role', () => {
    const tenants = defaultTenants();
    for (const role of ['writer', 'reader', 'auditor'] as const) {
      const caller = resolveCaller(tenants, sandboxPrincipal(role).sessionArn);
      expect(caller?.tenant).toBe('demo');
      expect([...(caller?.roles ?? [])]).toEqual([role]);
      expect(caller?.shards).toBe(2);
    }
  });
});

describe('the banner', () => {
  it('suggests a sample event that the ingest schema accepts', () => {
    expect(() => AuditEventInput.parse(sampleEvent())).not.toThrow();
  });
});
