import { type App, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/**
 * Runs the cdk-nag AwsSolutions pack as a CDK policy-validation plugin: any finding, error or warning,
 * that is not acknowledged with `Validations.of(construct).acknowledge({ id, reason })` fails synthesis
 * (`cdk synth` exits non-zero; `app.synth()` throws with the report). Acknowledgements are also written
 * to the templates' Metadata (`cdk_nag.rules_to_suppress`) so reviewers see every exception and its reason.
 */
export function applyNagChecks(app: App): void {
  Validations.of(app).addPlugins(
    new AwsSolutionsChecks(app, { verbose: true, writeSuppressionsToCloudFormation: true }),
  );
}

type Cfn = string | { [key: string]: unknown } | unknown[] | undefined;

/**
 * Renders a (possibly tokenized) IAM resource the way cdk-nag names its findings
 * (`Fn::Join` flattened, `Ref` -> `<LogicalId>`, `Fn::GetAtt` -> `<LogicalId.Attr>`), so that an
 * acknowledgement can name the exact wildcard resource, e.g. `AwsSolutions-IAM5[Resource::<that>]`.
 */
export function nagResourceName(scope: IConstruct, resource: string): string {
  const visit = (node: Cfn): string => {
    if (node === undefined) return '';
    if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/}/g, '>');
    if (Array.isArray(node)) return JSON.stringify(node);
    if ('Fn::Join' in node) {
      const [delimiter, items] = node['Fn::Join'] as [string, Cfn[]];
      return items.map(visit).join(delimiter);
    }
    if ('Fn::Sub' in node) return visit(node['Fn::Sub'] as Cfn);
    if ('Fn::GetAtt' in node) {
      const [logicalId, attribute] = node['Fn::GetAtt'] as [Cfn, Cfn];
      return `<${visit(logicalId)}.${visit(attribute)}>`;
    }
    if ('Fn::ImportValue' in node) return visit(node['Fn::ImportValue'] as Cfn);
    if ('Ref' in node) return `<${visit(node.Ref as Cfn)}>`;
    return JSON.stringify(node);
  };
  return visit(Stack.of(scope).resolve(resource) as Cfn);
}

/**
 * Acknowledges AwsSolutions-IAM5 for exactly these wildcard resources on `construct` (and its children),
 * leaving every other IAM5 finding (another resource, a wildcard action) to fail synthesis.
 */
export function acknowledgeWildcardResources(
  construct: IConstruct,
  resources: readonly string[],
  reason: string,
): void {
  for (const resource of resources) {
    if (!resource.includes('*')) continue;
    Validations.of(construct).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResourceName(construct, resource)}]`,
      reason,
    });
  }
}
