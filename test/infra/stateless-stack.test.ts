import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { aws_lambda as lambda } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '#core/env-names.ts';
import { TenantsConfig } from '#core/tenancy.ts';
import { MAX_EVENTS_PER_REQUEST } from '../../lib/constructs/audit-api.ts';
import { devConfig, flatten, logicalIdOf, synthAuditTrail } from './support.ts';

// biome-ignore lint/suspicious/noExplicitAny: synthesized CloudFormation JSON, checked by the assertions themselves
type Resources = Record<string, { Type: string; Properties: Record<string, any> }>;

const config = devConfig();
let synth: ReturnType<typeof synthAuditTrail>;
let template: Template;
let resources: Resources;
let assemblyDir: string;

beforeAll(() => {
  synth = synthAuditTrail(config); // bundles both functions once for the whole file
  template = synth.stateless;
  resources = template.toJSON().Resources;
  assemblyDir = synth.app.synth().directory;
});

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

/** `/v1/events/{id}` for an AWS::ApiGateway::Resource, following ParentId up to the root. */
function resourcePath(resourceId: unknown): string {
  const ref = (resourceId as { Ref?: string }).Ref;
  if (ref === undefined || resources[ref]?.Type !== 'AWS::ApiGateway::Resource') return '';
  const { ParentId, PathPart } = resources[ref].Properties;
  return `${resourcePath(ParentId)}/${PathPart}`;
}

const methods = () =>
  ofType('AWS::ApiGateway::Method').map(([id, r]) => ({
    id,
    route: `${r.Properties.HttpMethod} ${resourcePath(r.Properties.ResourceId)}`,
    props: r.Properties,
  }));

describe('API', () => {
  const EXPECTED_ROUTES: Record<string, 'Ingest' | 'Read'> = {
    'POST /v1/events': 'Ingest',
    'GET /v1/events': 'Read',
    'GET /v1/events/{id}': 'Read',
    'GET /v1/logs': 'Read',
    'GET /v1/logs/{origin}/checkpoint': 'Read',
    'GET /v1/logs/{origin}/appends': 'Read',
    'GET /v1/public-keys': 'Read',
    'GET /v1/openapi.json': 'Read',
  };

  it('requires AWS_IAM (SigV4) on every method', () => {
    const all = methods().filter((m) => m.props.HttpMethod !== 'OPTIONS');
    expect(all.length).toBeGreaterThan(0);
    for (const method of all)
      expect({ route: method.route, auth: method.props.AuthorizationType }).toEqual({
        route: method.route,
        auth: 'AWS_IAM',
      });
  });

  it('exposes exactly the v1 routes, each proxied to its function, and no OPTIONS method', () => {
    const found = Object.fromEntries(
      methods().map((m) => {
        expect(m.props.Integration.Type).toBe('AWS_PROXY');
        const uri = JSON.stringify(m.props.Integration.Uri);
        const target = ['Ingest', 'Read'].find((fn) =>
          uri.includes(`"${logicalIdOf(template, 'AWS::Lambda::Function', fn)}"`),
        );
        return [m.route, target];
      }),
    );
    expect(found).toEqual(EXPECTED_ROUTES);
  });

  it('validates POST /v1/events bodies against a model of 1 to 98 events', () => {
    const post = methods().find((m) => m.route === 'POST /v1/events')!;
    const validator = resources[post.props.RequestValidatorId.Ref]!.Properties;
    expect(validator).toMatchObject({ ValidateRequestBody: true });
    const model = resources[post.props.RequestModels['application/json'].Ref]!.Properties;
    expect(model.ContentType).toBe('application/json');
    expect(model.Schema).toMatchObject({
      $schema: 'http://json-schema.org/draft-04/schema#',
      type: 'object',
      required: ['events'],
      additionalProperties: false,
      properties: { events: { type: 'array', minItems: 1, maxItems: 98, items: { type: 'object' } } },
    });
    expect(MAX_EVENTS_PER_REQUEST).toBe(98);
  });

  it('requires the path parameters of GET routes and validates them', () => {
    const byRoute = Object.fromEntries(methods().map((m) => [m.route, m.props]));
    expect(byRoute['GET /v1/events/{id}']!.RequestParameters).toEqual({ 'method.request.path.id': true });
    expect(byRoute['GET /v1/logs/{origin}/checkpoint']!.RequestParameters).toEqual({
      'method.request.path.origin': true,
    });
    for (const props of Object.values(byRoute)) {
      expect(resources[props.RequestValidatorId.Ref]!.Properties.ValidateRequestParameters).toBe(true);
    }
  });

  it('answers gateway errors with JSON {"error":{"code","message"}} and stable codes', () => {
    const responses = Object.fromEntries(
      ofType('AWS::ApiGateway::GatewayResponse').map(([, r]) => {
        const body = r.Properties.ResponseTemplates['application/json'] as string;
        // Substitute what API Gateway renders for $context.error.messageString (a quoted JSON string).
        const rendered = JSON.parse(body.replace('$context.error.messageString', '"Forbidden"'));
        expect(r.Properties.ResponseParameters['gatewayresponse.header.Content-Type']).toBe(
          "'application/json'",
        );
        return [r.Properties.ResponseType, rendered.error.code];
      }),
    );
    expect(responses).toMatchObject({
      DEFAULT_4XX: 'invalid_request',
      DEFAULT_5XX: 'internal_error',
      ACCESS_DENIED: 'forbidden',
      MISSING_AUTHENTICATION_TOKEN: 'unauthorized',
      INVALID_SIGNATURE: 'unauthorized',
      EXPIRED_TOKEN: 'unauthorized',
      THROTTLED: 'throttled',
      REQUEST_TOO_LARGE: 'too_large',
      BAD_REQUEST_BODY: 'invalid_request',
      UNSUPPORTED_MEDIA_TYPE: 'unsupported_media_type',
    });
  });

  it('adds Retry-After to throttling responses', () => {
    const throttled = ofType('AWS::ApiGateway::GatewayResponse').find(
      ([, r]) => r.Properties.ResponseType === 'THROTTLED',
    )!;
    expect(throttled[1].Properties.ResponseParameters['gatewayresponse.header.Retry-After']).toBe("'1'");
  });

  it('throttles the stage from the config, writes JSON access logs with the caller ARN, and keeps request bodies out of logs', () => {
    const [, stage] = ofType('AWS::ApiGateway::Stage')[0]!;
    expect(stage.Properties.StageName).toBe('dev');
    expect(stage.Properties.MethodSettings).toEqual([
      expect.objectContaining({
        HttpMethod: '*',
        ResourcePath: '/*',
        ThrottlingRateLimit: config.api.throttling.rateLimit,
        ThrottlingBurstLimit: config.api.throttling.burstLimit,
        DataTraceEnabled: false,
      }),
    ]);
    expect(stage.Properties.MethodSettings[0].LoggingLevel).toBeUndefined();
    const accessLogGroup = logicalIdOf(template, 'AWS::Logs::LogGroup', 'ApiAccessLogs');
    expect(stage.Properties.AccessLogSetting.DestinationArn).toEqual({
      'Fn::GetAtt': [accessLogGroup, 'Arn'],
    });
    const format = JSON.parse(stage.Properties.AccessLogSetting.Format);
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      userArn: '$context.identity.userArn',
      status: '$context.status',
    });
    expect(resources[accessLogGroup]!.Properties.RetentionInDays).toBe(config.logRetentionDays);
  });

  it('is a regional endpoint and does not manage the account-wide CloudWatch role', () => {
    const [, api] = ofType('AWS::ApiGateway::RestApi')[0]!;
    expect(api.Properties.EndpointConfiguration).toEqual({ Types: ['REGIONAL'] });
    expect(ofType('AWS::ApiGateway::Account')).toEqual([]);
  });
});

describe('functions', () => {
  const newestNodeRuntime = () =>
    lambda.Runtime.ALL.filter((runtime) => /^nodejs\d+\.x$/.test(runtime.name)).sort(
      (a, b) => Number.parseInt(b.name.slice(6), 10) - Number.parseInt(a.name.slice(6), 10),
    )[0]!.name;
  const fn = (prefix: 'Ingest' | 'Read') =>
    resources[logicalIdOf(template, 'AWS::Lambda::Function', prefix)]!.Properties;

  it('runs every function on arm64 with the newest Node.js runtime aws-cdk-lib offers', () => {
    const all = ofType('AWS::Lambda::Function');
    expect(all).toHaveLength(2);
    for (const [, f] of all) {
      expect(f.Properties.Architectures).toEqual(['arm64']);
      expect(f.Properties.Runtime).toBe(newestNodeRuntime());
      expect(f.Properties.Handler).toBe('index.handler');
    }
  });

  it('bundles each handler locally as minified ESM with a source map and the AWS SDK inside', () => {
    const bundles = readdirSync(assemblyDir).filter((dir) => existsSync(join(assemblyDir, dir, 'index.mjs')));
    expect(bundles).toHaveLength(2);
    for (const dir of bundles) {
      const code = readFileSync(join(assemblyDir, dir, 'index.mjs'), 'utf8');
      expect(existsSync(join(assemblyDir, dir, 'index.mjs.map'))).toBe(true);
      expect(code).toMatch(/^import\{createRequire\}|^import \{ createRequire \}/);
      expect(code).not.toMatch(/from\s*["']@aws-sdk\//); // SDK bundled, not left as an external import
      expect(code.length / code.split('\n').length).toBeGreaterThan(1000); // minified: long lines
    }
  });

  it('gives the ingest function the table, the signing key, the origin and the tenants', () => {
    const env = fn('Ingest').Environment.Variables;
    expect(Object.keys(env).sort()).toEqual(
      [
        ENV.ledgerTable,
        ENV.signingKey,
        ENV.signingAlgorithm,
        ENV.deploymentOrigin,
        ENV.tenants,
        'POWERTOOLS_SERVICE_NAME',
        'POWERTOOLS_METRICS_NAMESPACE',
        'POWERTOOLS_LOG_LEVEL',
        'NODE_OPTIONS',
      ].sort(),
    );
    expect(env[ENV.signingAlgorithm]).toBe('ECDSA_SHA_256');
    expect(flatten(env[ENV.signingKey])).toMatch(
      /^<import AuditTrail-dev-Stateful:ExportsOutputFnGetAttSigningKey\w+Arn\w+>$/,
    );
    expect(flatten(env[ENV.ledgerTable])).toMatch(
      /^<import AuditTrail-dev-Stateful:ExportsOutputRefLedgerTable\w+>$/,
    );
    expect(env[ENV.deploymentOrigin]).toBe('audit.example.com/dev');
    expect(TenantsConfig.parse(JSON.parse(env[ENV.tenants]))).toEqual({ tenants: config.tenants });
    expect(env).toMatchObject({
      POWERTOOLS_SERVICE_NAME: 'audit-trail-ingest',
      POWERTOOLS_METRICS_NAMESPACE: 'AuditTrail',
      NODE_OPTIONS: '--enable-source-maps',
    });
  });

  it('gives the read function the table, the origin and the tenants, but no signing key', () => {
    const env = fn('Read').Environment.Variables;
    expect(env).toMatchObject({
      [ENV.deploymentOrigin]: 'audit.example.com/dev',
      POWERTOOLS_SERVICE_NAME: 'audit-trail-read',
    });
    expect(env[ENV.ledgerTable]).toBeDefined();
    expect(env[ENV.tenants]).toBeDefined();
    expect(env[ENV.signingKey]).toBeUndefined();
  });

  it('logs each function to its own log group with the configured retention', () => {
    for (const prefix of ['Ingest', 'Read'] as const) {
      const logGroup = logicalIdOf(template, 'AWS::Logs::LogGroup', `${prefix}Logs`);
      expect(fn(prefix).LoggingConfig).toEqual({ LogGroup: { Ref: logGroup } });
      expect(resources[logGroup]!.Properties.RetentionInDays).toBe(365);
    }
  });

  it('attaches no AWS managed policy to function roles', () => {
    for (const [, role] of ofType('AWS::IAM::Role'))
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it('has an errors alarm per function and a 5XX alarm on the API', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm').map(
      ([, a]) => `${a.Properties.Namespace}/${a.Properties.MetricName}`,
    );
    expect(alarms.sort()).toEqual(['AWS/ApiGateway/5XXError', 'AWS/Lambda/Errors', 'AWS/Lambda/Errors']);
  });
});

describe('caller role policies', () => {
  const api = () =>
    `arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${logicalIdOf(template, 'AWS::ApiGateway::RestApi', 'Api')}>/dev`;
  const policy = (prefix: string) => {
    const props =
      resources[logicalIdOf(template, 'AWS::IAM::ManagedPolicy', `AccessPolicies${prefix}`)]!.Properties;
    const statements = props.PolicyDocument.Statement as {
      Effect: string;
      Action: unknown;
      Resource: unknown[];
    }[];
    expect(statements.map((s) => [s.Effect, s.Action])).toEqual([['Allow', 'execute-api:Invoke']]);
    return statements[0]!.Resource.map(flatten).sort();
  };

  it('writer may POST events (and read the OpenAPI document), nothing else', () => {
    expect(policy('Writer')).toEqual([`${api()}/GET/v1/openapi.json`, `${api()}/POST/v1/events`]);
  });

  it('reader may GET events, one event, public keys and the OpenAPI document', () => {
    expect(policy('Reader')).toEqual(
      [
        `${api()}/GET/v1/events`,
        `${api()}/GET/v1/events/*`,
        `${api()}/GET/v1/public-keys`,
        `${api()}/GET/v1/openapi.json`,
      ].sort(),
    );
  });

  it('auditor may call every GET route and no POST', () => {
    expect(policy('Auditor')).toEqual(
      [
        `${api()}/GET/v1/events`,
        `${api()}/GET/v1/events/*`,
        `${api()}/GET/v1/logs`,
        `${api()}/GET/v1/logs/*/checkpoint`,
        `${api()}/GET/v1/logs/*/appends`,
        `${api()}/GET/v1/public-keys`,
        `${api()}/GET/v1/openapi.json`,
      ].sort(),
    );
  });

  it('exports the three policy ARNs and the API URL as stack outputs', () => {
    const outputs = template.toJSON().Outputs as Record<
      string,
      { Value: unknown; Export?: { Name: string } }
    >;
    for (const role of ['Writer', 'Reader', 'Auditor']) {
      expect(outputs[`${role}PolicyArn`]).toEqual(
        expect.objectContaining({
          Value: { Ref: logicalIdOf(template, 'AWS::IAM::ManagedPolicy', `AccessPolicies${role}`) },
          Export: { Name: `AuditTrail-dev-Stateless-${role}PolicyArn` },
        }),
      );
    }
    expect(outputs.ApiUrl?.Export).toEqual({ Name: 'AuditTrail-dev-Stateless-ApiUrl' });
  });
});
