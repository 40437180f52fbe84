import { type App, Tags } from 'aws-cdk-lib';
import type { LoadedStage } from './config/load.ts';
import { StatefulStack } from './stacks/stateful-stack.ts';
import { StatelessStack } from './stacks/stateless-stack.ts';

export interface AuditTrailStacks {
  readonly stateful: StatefulStack;
  readonly stateless: StatelessStack;
}

/**
 * Adds one stage of the audit trail to the app: `AuditTrail-<stage>-Stateful` (keys, table, buckets)
 * and `AuditTrail-<stage>-Stateless` (functions, API, alerts, monitor, Athena, alarms, role policies).
 * Environment-agnostic unless the stage config pins `env`, so synth needs no AWS account and makes no lookups.
 */
export function addAuditTrail(app: App, { name, config }: LoadedStage): AuditTrailStacks {
  const env = config.env?.account || config.env?.region ? { ...config.env } : undefined;
  const common = { env, stageName: name, config };
  const stateful = new StatefulStack(app, `AuditTrail-${name}-Stateful`, {
    ...common,
    description: `Audit trail (${name}): signing key, ledger table, Object Lock archive, query results bucket, keys. Retained; termination-protected.`,
  });
  const stateless = new StatelessStack(app, `AuditTrail-${name}-Stateless`, {
    ...common,
    description: `Audit trail (${name}): API, functions, stream consumers, alerts, integrity monitor, Athena, alarms, role policies.`,
    signingKey: stateful.signingKey,
    ledger: stateful.ledger,
    archive: stateful.archive,
    queryResults: stateful.queryResults,
    operationsKey: stateful.operationsKey,
  });
  for (const stack of [stateful, stateless]) {
    Tags.of(stack).add('app', 'audit-trail');
    Tags.of(stack).add('audit-trail:stage', name);
  }
  return { stateful, stateless };
}
