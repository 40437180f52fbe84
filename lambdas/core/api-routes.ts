import type { Role } from './tenancy.ts';

/** Which Lambda serves a route. */
export type RouteTarget = 'ingest' | 'read';

export interface ApiRoute {
  readonly method: 'GET' | 'POST';
  /** API Gateway resource path; `{name}` segments become pathParameters. */
  readonly resource: string;
  readonly target: RouteTarget;
  /** Roles allowed to call the route (checked by IAM in AWS, and again by the handler). */
  readonly roles: readonly Role[];
}

/**
 * The HTTP API v1, defined once: CDK builds API Gateway resources and role policies from it and the
 * local sandbox routes requests with it.
 */
export const API_ROUTES: readonly ApiRoute[] = [
  { method: 'POST', resource: '/v1/events', target: 'ingest', roles: ['writer'] },
  { method: 'GET', resource: '/v1/events', target: 'read', roles: ['reader', 'auditor'] },
  { method: 'GET', resource: '/v1/events/{id}', target: 'read', roles: ['reader', 'auditor'] },
  { method: 'GET', resource: '/v1/logs', target: 'read', roles: ['auditor'] },
  { method: 'GET', resource: '/v1/logs/{origin}/checkpoint', target: 'read', roles: ['auditor'] },
  { method: 'GET', resource: '/v1/logs/{origin}/appends', target: 'read', roles: ['auditor'] },
  { method: 'GET', resource: '/v1/public-keys', target: 'read', roles: ['reader', 'auditor'] },
  { method: 'GET', resource: '/v1/openapi.json', target: 'read', roles: ['writer', 'reader', 'auditor'] },
];
