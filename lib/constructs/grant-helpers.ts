import { aws_iam as iam, Stack } from 'aws-cdk-lib';
import { Construct, type IConstruct } from 'constructs';
import { acknowledgeWildcardResources } from '../nag.ts';

/** The construct whose IAM policy a grant to `grantee` lands in (where its nag acknowledgements go). */
export function grantScope(grantee: iam.IGrantable): IConstruct | undefined {
  const principal = grantee.grantPrincipal;
  if (Construct.isConstruct(principal)) return principal; // a role: its policies are its children
  return Construct.isConstruct(grantee) ? grantee : undefined;
}

/**
 * `value`, a Ref/GetAtt of a resource in `producer`'s stack, as `grantee`'s stack sees it. Across stacks
 * this is the import of the export CDK would create anyway (same name), written explicitly so that a
 * wildcard resource built on it (`<bucket ARN>/events/*`) reads the same when it is acknowledged (now)
 * and when cdk-nag checks the template (after cross-stack references are resolved).
 */
export function attributeFor(grantee: iam.IGrantable, producer: IConstruct, value: string): string {
  const scope = grantScope(grantee);
  if (scope === undefined) return value;
  const consumerStack = Stack.of(scope);
  const producerStack = Stack.of(producer);
  if (consumerStack === producerStack) return value;
  consumerStack.addStackDependency(producerStack, 'grants on resources of the stateful stack');
  return producerStack.exportValue(value);
}

/**
 * `iam.Grant.addToPrincipal` that also acknowledges AwsSolutions-IAM5 for exactly the wildcard resources
 * granted (object keys under a prefix), with the reason, on the grantee's policy.
 */
export function grantWithWildcards(options: iam.GrantOnPrincipalOptions, reason: string): iam.Grant {
  const grant = iam.Grant.addToPrincipal(options);
  const scope = grantScope(options.grantee);
  if (scope !== undefined) acknowledgeWildcardResources(scope, options.resourceArns, reason);
  return grant;
}

/**
 * A grantee whose grants become statements of a customer-managed policy (which callers attach to their
 * roles), so the constructs' `grantXxx` methods can build exported role policies too.
 */
export class ManagedPolicyGrantee extends Construct implements iam.IGrantable {
  readonly policy: iam.ManagedPolicy;
  readonly grantPrincipal: iam.IPrincipal;

  constructor(scope: Construct, id: string, props: { readonly description: string }) {
    super(scope, id);
    this.policy = new iam.ManagedPolicy(this, 'Policy', { description: props.description });
    this.grantPrincipal = new PolicyPrincipal(this.policy);
  }

  get managedPolicyArn(): string {
    return this.policy.managedPolicyArn;
  }
}

class PolicyPrincipal extends iam.PrincipalBase {
  constructor(private readonly policy: iam.ManagedPolicy) {
    super();
  }

  get policyFragment(): iam.PrincipalPolicyFragment {
    throw new Error('a managed policy grantee cannot be named as a principal in a resource policy');
  }

  override addToPrincipalPolicy(statement: iam.PolicyStatement): iam.AddToPrincipalPolicyResult {
    this.policy.addStatements(statement);
    return { statementAdded: true, policyDependable: this.policy };
  }

  override dedupeString(): string | undefined {
    return undefined;
  }
}
