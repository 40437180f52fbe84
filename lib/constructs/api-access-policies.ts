import { aws_iam as iam } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { API_ROUTES } from '#core/api-routes.ts';
import type { Role } from '#core/tenancy.ts';
import { acknowledgeWildcardResources } from '../nag.ts';
import type { AuditApi } from './audit-api.ts';

export interface ApiAccessPoliciesProps {
  readonly api: AuditApi;
}

const DESCRIPTIONS: Record<Role, string> = {
  writer: 'audit-trail writer: record events (POST /v1/events)',
  reader: 'audit-trail reader: query events and their receipts, fetch public keys',
  auditor: 'audit-trail auditor: every GET (events, logs, checkpoints, appends, public keys)',
};

/**
 * One customer-managed policy per API role (writer, reader, auditor) granting execute-api:Invoke on
 * exactly that role's routes in `#core/api-routes.ts` (the table the handlers check roles against too). Attach them to the callers' roles; which tenant a caller
 * writes to or reads is still decided by the tenant config, not by these policies.
 */
export class ApiAccessPolicies extends Construct {
  readonly writer: iam.ManagedPolicy;
  readonly reader: iam.ManagedPolicy;
  readonly auditor: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: ApiAccessPoliciesProps) {
    super(scope, id);
    const make = (role: Role, policyId: string) => {
      const resources = API_ROUTES.filter((route) => route.roles.includes(role)).map((route) =>
        props.api.arnForRoute(route.method, route.resource),
      );
      const policy = new iam.ManagedPolicy(this, policyId, {
        description: DESCRIPTIONS[role],
        statements: [new iam.PolicyStatement({ actions: ['execute-api:Invoke'], resources })],
      });
      acknowledgeWildcardResources(
        policy,
        resources,
        'The "*" stands for one path parameter ({id} or {origin}) of a single route on this API stage; method and the rest of the path are fixed.',
      );
      return policy;
    };
    this.writer = make('writer', 'Writer');
    this.reader = make('reader', 'Reader');
    this.auditor = make('auditor', 'Auditor');
  }
}
