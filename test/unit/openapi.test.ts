import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { API_ROUTES } from '#core/api-routes.ts';
import { eventBatchGatewayModel, openApiDocument } from '#core/openapi.ts';

describe('OpenAPI document', () => {
  it('matches the committed docs/openapi.json (run npm run openapi after changing a schema)', () => {
    const committed = JSON.parse(readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8'));
    expect(committed).toEqual(JSON.parse(JSON.stringify(openApiDocument())));
  });

  it('describes every route of the API', () => {
    const paths = openApiDocument().paths as Record<string, Record<string, unknown>>;
    for (const route of API_ROUTES) expect(paths[route.resource]?.[route.method.toLowerCase()]).toBeDefined();
  });

  it('gives API Gateway a draft-4 model without ECMAScript patterns', () => {
    const model = JSON.stringify(eventBatchGatewayModel());
    expect(model).not.toContain('"pattern"');
    expect(eventBatchGatewayModel()).toMatchObject({
      type: 'object',
      required: ['events'],
      additionalProperties: false,
    });
  });
});
