import { readFileSync } from 'node:fs';
import { App, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { addAuditTrail } from '../../lib/audit-trail.ts';
import { parseStageConfig } from '../../lib/config/load.ts';
import type { StageConfig, StageConfigInput } from '../../lib/config/schema.ts';
import { dev } from '../../lib/config/stages/dev.ts';

/** The context of cdk.json (feature flags), so test apps behave like `cdk synth`. */
export const CDK_CONTEXT: Record<string, unknown> = JSON.parse(
  readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8'),
).context;

/**
 * An app with cdk.json's context. CDK's built-in CloudFormation schema validation (5-10 s per synth) is off
 * unless asked for: `cdk synth` runs it on every build, the tests assert on templates and nag directly.
 * `bundle: false` skips esbuild (about a second per function) where a test needs no function code:
 * the functions then point at a placeholder asset, everything else is synthesized as usual.
 */
export const newApp = ({
  cfnValidation = false,
  bundle = true,
  context = {},
}: {
  cfnValidation?: boolean;
  bundle?: boolean;
  context?: Record<string, unknown>;
} = {}) =>
  new App({
    context: { ...CDK_CONTEXT, ...(bundle ? {} : { 'aws:cdk:bundling-stacks': [] }), ...context },
    builtinCloudFormationValidation: cfnValidation,
  });

/** The dev stage config with some fields replaced, validated like the app does. */
export const devConfig = (overrides: Partial<StageConfigInput> = {}): StageConfig =>
  parseStageConfig('dev', { ...dev, ...overrides });

/** Both stacks of one stage, synthesized once (bundling the functions with esbuild). */
export function synthAuditTrail(config: StageConfig = devConfig(), app = newApp()) {
  const stacks = addAuditTrail(app, { name: 'dev', config });
  return {
    app,
    ...stacks,
    stateful: Template.fromStack(stacks.stateful),
    stateless: Template.fromStack(stacks.stateless),
  };
}

/** A CloudFormation value as a readable string: `Fn::Join` flattened, `Ref` -> `<Id>`, `GetAtt` -> `<Id.Attr>`. */
export function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const node = value as Record<string, unknown>;
    if ('Fn::Join' in node) {
      const [delimiter, parts] = node['Fn::Join'] as [string, unknown[]];
      return parts.map(flatten).join(delimiter);
    }
    if ('Ref' in node) return `<${String(node.Ref)}>`;
    if ('Fn::GetAtt' in node) return `<${(node['Fn::GetAtt'] as string[]).join('.')}>`;
    if ('Fn::ImportValue' in node) return `<import ${flatten(node['Fn::ImportValue'])}>`;
  }
  return JSON.stringify(value);
}

/** The one resource of a type whose logical id starts with `prefix`. */
export function logicalIdOf(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1)
    throw new Error(`expected one ${type} starting with ${prefix}, found ${ids.join(', ') || 'none'}`);
  return ids[0]!;
}

/**
 * Every permission the identity policies attached to a role grant, one line per action:
 * `<action> on <resource> [if <condition>]`, sorted. Statements merged or split by policy minimization
 * compare equal.
 */
export function grantedPermissions(template: Template, roleLogicalId: string): string[] {
  const lines = new Set<string>();
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
    const roles = (policy.Properties.Roles ?? []) as unknown[];
    if (!roles.some((role) => JSON.stringify(role) === JSON.stringify({ Ref: roleLogicalId }))) continue;
    for (const statement of policy.Properties.PolicyDocument.Statement) {
      if (statement.Effect !== 'Allow') throw new Error(`unexpected ${statement.Effect} statement`);
      for (const line of permissionLines(statement)) lines.add(line);
    }
  }
  return [...lines].sort();
}

/** Lines in the format of `grantedPermissions` for the expected actions, resources and condition. */
export function permissions(
  stack: Stack,
  actions: readonly string[],
  resources: readonly string[],
  condition?: Record<string, unknown>,
): string[] {
  return permissionLines({
    Action: [...actions],
    Resource: resources.map((resource) => stack.resolve(resource)),
    ...(condition ? { Condition: stack.resolve(condition) } : {}),
  }).sort();
}

function permissionLines(statement: { Action: unknown; Resource: unknown; Condition?: unknown }): string[] {
  const list = (value: unknown) => (Array.isArray(value) ? value : [value]);
  const conditionText = statement.Condition === undefined ? '' : ` if ${JSON.stringify(statement.Condition)}`;
  return list(statement.Action).flatMap((action) =>
    list(statement.Resource).map((resource) => `${String(action)} on ${flatten(resource)}${conditionText}`),
  );
}
