import type { APIGatewayProxyEvent } from 'aws-lambda';
import { ForbiddenError } from '#core/errors.ts';
import type { CallerIdentity } from '#core/record.ts';
import { type Caller, type Role, resolveCaller, type TenantsConfig } from '#core/tenancy.ts';

/** The caller as API Gateway's AWS_IAM authorizer established it (requestContext.identity). */
export function callerIdentity(event: APIGatewayProxyEvent): CallerIdentity {
  const identity = event.requestContext.identity;
  if (!identity.userArn || !identity.accountId) throw new ForbiddenError('request carries no IAM identity');
  return {
    principalArn: identity.userArn,
    accountId: identity.accountId,
    sourceIp: identity.sourceIp,
    ...(identity.userAgent ? { userAgent: identity.userAgent } : {}),
  };
}

/** The tenant and roles come from configuration (principal -> tenant), never from the request body. */
export function authorize(
  tenants: TenantsConfig,
  identity: CallerIdentity,
  allowed: readonly Role[],
): Caller {
  const caller = resolveCaller(tenants, identity.principalArn);
  if (!caller)
    throw new ForbiddenError(`principal ${identity.principalArn} is not configured for any tenant`);
  if (!allowed.some((role) => caller.roles.has(role))) {
    throw new ForbiddenError(
      `principal ${identity.principalArn} needs one of the roles ${allowed.join(', ')} for this operation`,
    );
  }
  return caller;
}

/** Header lookup that ignores case, as HTTP does. */
export function header(event: APIGatewayProxyEvent, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted && value !== undefined) return value;
  }
  return undefined;
}
