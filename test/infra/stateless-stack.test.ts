import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duration, aws_lambda as lambda, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_SOURCE, buildAlertRules, INTEGRITY_VIOLATION_DETAIL_TYPE } from '#core/alert-rules.ts';
import { ENV } from '#core/env-names.ts';
import { MONITOR_STATE_PREFIX } from '#core/integrity-monitor.ts';
import { eventKey } from '#core/ledger-layout.ts';
import { eventBatchGatewayModel } from '#core/openapi.ts';
import {
  AUDIT_EVENTS_COLUMNS,
  AUDIT_EVENTS_PARTITION_KEYS,
  AUDIT_EVENTS_TABLE,
  REPORT_QUERIES,
} from '#core/report-queries.ts';
import { TenantsConfig } from '#core/tenancy.ts';
import { alertRulesConfig } from '../../lib/config/schema.ts';
import { AuditAlerts } from '../../lib/constructs/audit-alerts.ts';
import { MAX_EVENTS_PER_REQUEST } from '../../lib/constructs/audit-api.ts';
import { AuditFunction } from '../../lib/constructs/audit-function.ts';
import { IntegrityMonitor } from '../../lib/constructs/integrity-monitor.ts';
import { APPEND_TABLE_ACTIONS, TABLE_KEY_WRITE_ACTIONS } from '../../lib/constructs/ledger-table.ts';
import { INGEST_METRICS } from '../../lib/constructs/operations-dashboard.ts';
import { OperationsKey } from '../../lib/constructs/operations-key.ts';
import { HANDLER_ENTRIES } from '../../lib/stacks/stateless-stack.ts';
import { devConfig, flatten, grantedPermissions, logicalIdOf, newApp, synthAuditTrail } from './support.ts';

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
const POWERTOOLS_ENV = [
  'POWERTOOLS_SERVICE_NAME',
  'POWERTOOLS_METRICS_NAMESPACE',
  'POWERTOOLS_LOG_LEVEL',
  'NODE_OPTIONS',
];
const ref = (prefix: string, type: string) => ({ Ref: logicalIdOf(template, type, prefix) });
const arnOf = (prefix: string, type: string) => ({
  'Fn::GetAtt': [logicalIdOf(template, type, prefix), 'Arn'],
});
const importOf = (value: unknown) =>
  flatten(value).replace(/^<import AuditTrail-dev-Stateful:ExportsOutput(\w+?)[0-9A-F]{8}>$/, '$1');

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

  it('validates only the envelope of POST /v1/events bodies (no maxItems), so oversized batches reach the handler and get 413', () => {
    const post = methods().find((m) => m.route === 'POST /v1/events')!;
    const validator = resources[post.props.RequestValidatorId.Ref]!.Properties;
    expect(validator).toMatchObject({ ValidateRequestBody: true });
    const model = resources[post.props.RequestModels['application/json'].Ref]!.Properties;
    expect(model.ContentType).toBe('application/json');
    expect(model.Schema).toEqual({
      $schema: 'http://json-schema.org/draft-04/schema#',
      title: 'EventsRequest',
      ...eventBatchGatewayModel(),
    });
    expect(model.Schema).toMatchObject({
      type: 'object',
      required: ['events'],
      additionalProperties: false,
      properties: { events: { type: 'array', minItems: 1, items: { type: 'object' } } },
    });
    expect(JSON.stringify(model.Schema)).not.toContain('maxItems');
    expect(MAX_EVENTS_PER_REQUEST).toBe(98); // enforced by the handler
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
  const fn = (prefix: 'Ingest' | 'Read' | 'Archiver' | 'Alerter' | 'Monitor') =>
    resources[logicalIdOf(template, 'AWS::Lambda::Function', prefix)]!.Properties;

  it('runs every function on arm64 with the newest Node.js runtime aws-cdk-lib offers', () => {
    const all = ofType('AWS::Lambda::Function');
    expect(all).toHaveLength(5);
    for (const [, f] of all) {
      expect(f.Properties.Architectures).toEqual(['arm64']);
      expect(f.Properties.Runtime).toBe(newestNodeRuntime());
      expect(f.Properties.Handler).toBe('index.handler');
    }
  });

  it('bundles each handler locally as minified ESM with a source map and the AWS SDK inside', () => {
    const bundles = readdirSync(assemblyDir).filter((dir) => existsSync(join(assemblyDir, dir, 'index.mjs')));
    expect(bundles).toHaveLength(5);
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

  it('gives the archiver the archive bucket, the table and the hot retention, nothing of the API', () => {
    const env = fn('Archiver').Environment.Variables;
    expect(Object.keys(env).sort()).toEqual(
      [ENV.archiveBucket, ENV.ledgerTable, ENV.hotRetentionDays, ...POWERTOOLS_ENV].sort(),
    );
    expect(env[ENV.hotRetentionDays]).toBe(String(config.ledger.hotRetentionDays));
    expect(flatten(env[ENV.archiveBucket])).toMatch(
      /^<import AuditTrail-dev-Stateful:ExportsOutputRefArchiveBucket\w+>$/,
    );
  });

  it('gives the alerter only the bus name', () => {
    expect(Object.keys(fn('Alerter').Environment.Variables).sort()).toEqual(
      [ENV.eventBus, ...POWERTOOLS_ENV].sort(),
    );
  });

  it('gives the monitor the table, the archive, the bus, the signing key, the origin, the tenants and its role', () => {
    const env = fn('Monitor').Environment.Variables;
    expect(Object.keys(env).sort()).toEqual(
      [
        ENV.ledgerTable,
        ENV.archiveBucket,
        ENV.eventBus,
        ENV.signingKey,
        ENV.signingAlgorithm,
        ENV.deploymentOrigin,
        ENV.tenants,
        ENV.monitorRoleArn,
        ...POWERTOOLS_ENV,
      ].sort(),
    );
    // The caller of the integrity.violation events it records: its own role.
    expect(env[ENV.monitorRoleArn]).toEqual(arnOf('MonitorRole', 'AWS::IAM::Role'));
    expect(env[ENV.signingAlgorithm]).toBe('ECDSA_SHA_256');
    expect(flatten(env[ENV.signingKey])).toMatch(
      /^<import AuditTrail-dev-Stateful:ExportsOutputFnGetAttSigningKey\w+Arn\w+>$/,
    );
  });

  it('grants the monitor exactly: log reads and appends, checkpoint signing, its archive state, the bus', () => {
    const lines = grantedPermissions(template, logicalIdOf(template, 'AWS::IAM::Role', 'MonitorRole')).map(
      (line) =>
        line
          .replace(
            /<import AuditTrail-dev-Stateful:ExportsOutputFnGetAtt([A-Za-z]+?)[0-9A-F]{8}Arn[0-9A-F]{8}>/g,
            '<$1>',
          )
          .replace(/<(AlertsBus|MonitorLogs)[0-9A-F]{8}\.Arn>/, '<$1>')
          .replace(
            / if \{"StringEquals":\{"kms:ViaService":\{"Fn::Join":\["",\["(\w+)\.",\{"Ref":"AWS::Region"\},"\.amazonaws\.com"\]\]\}\}\}$/,
            ' via $1',
          ),
    );
    expect(lines).toEqual(
      [
        // readLog's reads, and the ingest transaction (ConditionCheckItem, PutItem, UpdateItem): no delete.
        ...APPEND_TABLE_ACTIONS.map((action) => `${action} on <LedgerTable>`),
        ...TABLE_KEY_WRITE_ACTIONS.map((action) => `${action} on <LedgerKey> via dynamodb`),
        // One signature per tenant and run with new violations, with the key's algorithm only.
        'kms:Sign on <SigningKey> if {"StringEquals":{"kms:SigningAlgorithm":"ECDSA_SHA_256"}}',
        'kms:GetPublicKey on <SigningKey>',
        's3:GetObject on <ArchiveBucket>/*',
        's3:ListBucket on <ArchiveBucket>',
        `s3:PutObject on <ArchiveBucket>/${MONITOR_STATE_PREFIX}*`,
        'kms:Decrypt on <ArchiveKey> via s3',
        'kms:GenerateDataKey on <ArchiveKey> via s3',
        'events:PutEvents on <AlertsBus>',
        'logs:CreateLogStream on <MonitorLogs>',
        'logs:PutLogEvents on <MonitorLogs>',
      ].sort(),
    );
    expect(lines.join('\n')).not.toMatch(/DeleteItem|TransactWriteItems|Scan|s3:Delete|kms:Sign on \*/);
  });

  it('gives background functions longer timeouts than the API allows', () => {
    expect(fn('Archiver').Timeout).toBe(120);
    expect(fn('Alerter').Timeout).toBe(60);
    expect(fn('Monitor').Timeout).toBe(300);
    expect(fn('Ingest').Timeout).toBeLessThanOrEqual(29);
  });

  it('logs each function to its own log group with the configured retention', () => {
    for (const prefix of ['Ingest', 'Read', 'Archiver', 'Alerter', 'Monitor'] as const) {
      const logGroup = logicalIdOf(template, 'AWS::Logs::LogGroup', `${prefix}Logs`);
      expect(fn(prefix).LoggingConfig).toEqual({ LogGroup: { Ref: logGroup } });
      expect(resources[logGroup]!.Properties.RetentionInDays).toBe(365);
    }
  });

  it('attaches no AWS managed policy to function roles', () => {
    for (const [, role] of ofType('AWS::IAM::Role'))
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
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

describe('stream consumers', () => {
  const mapping = (prefix: 'Archiver' | 'Alerter') => {
    const fnId = logicalIdOf(template, 'AWS::Lambda::Function', prefix);
    const found = ofType('AWS::Lambda::EventSourceMapping').filter(
      ([, r]) => r.Properties.FunctionName.Ref === fnId,
    );
    expect(found).toHaveLength(1);
    return found[0]![1].Properties;
  };

  it('maps the ledger stream to exactly the archiver and the alerter', () => {
    expect(ofType('AWS::Lambda::EventSourceMapping')).toHaveLength(2);
    for (const prefix of ['Archiver', 'Alerter'] as const) {
      expect(importOf(mapping(prefix).EventSourceArn)).toMatch(/^FnGetAttLedgerTable\w+StreamArn$/);
    }
  });

  it('reports partial batch failures, bisects failed batches, bounds retries and record age, starts at TRIM_HORIZON', () => {
    for (const prefix of ['Archiver', 'Alerter'] as const) {
      expect(mapping(prefix)).toMatchObject({
        StartingPosition: 'TRIM_HORIZON',
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: 5,
        ParallelizationFactor: 1,
      });
    }
    expect(mapping('Archiver').MaximumRecordAgeInSeconds).toBe(24 * 3600);
    expect(mapping('Alerter').MaximumRecordAgeInSeconds).toBe(6 * 3600);
  });

  it('batches the archiver for few large objects and the alerter for latency', () => {
    expect(mapping('Archiver')).toMatchObject({ BatchSize: 1000, MaximumBatchingWindowInSeconds: 5 });
    expect(mapping('Alerter').BatchSize).toBe(100);
    expect(mapping('Alerter').MaximumBatchingWindowInSeconds).toBeUndefined();
  });

  it('filters the stream: the archiver gets INSERTs, the alerter INSERTs of event records only', () => {
    const patterns = (prefix: 'Archiver' | 'Alerter') =>
      (mapping(prefix).FilterCriteria.Filters as { Pattern: string }[]).map((f) => JSON.parse(f.Pattern));
    expect(patterns('Archiver')).toEqual([{ eventName: ['INSERT'] }]);
    expect(patterns('Alerter')).toEqual([
      { eventName: ['INSERT'], dynamodb: { Keys: { pk: { S: [{ prefix: 'EVENT#' }] } } } },
    ]);
    expect(eventKey('platform', 'e1').pk.startsWith('EVENT#')).toBe(true);
    expect(`LOG#x`.startsWith('EVENT#')).toBe(false);
  });

  it('sends batches that failed every retry to an encrypted, TLS-only queue with its own dead-letter queue', () => {
    for (const prefix of ['Archiver', 'Alerter'] as const) {
      const queueId = logicalIdOf(template, 'AWS::SQS::Queue', `${prefix}StreamOnFailureQueue`);
      const deadLetterId = logicalIdOf(
        template,
        'AWS::SQS::Queue',
        `${prefix}StreamOnFailureDeadLetterQueue`,
      );
      expect(mapping(prefix).DestinationConfig).toEqual({
        OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } },
      });
      const queue = resources[queueId]!.Properties;
      expect(importOf(queue.KmsMasterKeyId)).toMatch(/^FnGetAttOperationsKey\w+Arn$/);
      expect(queue.MessageRetentionPeriod).toBe(14 * 24 * 3600);
      expect(queue.RedrivePolicy).toEqual({
        deadLetterTargetArn: { 'Fn::GetAtt': [deadLetterId, 'Arn'] },
        maxReceiveCount: 10,
      });
      expect(importOf(resources[deadLetterId]!.Properties.KmsMasterKeyId)).toMatch(/^FnGetAttOperationsKey/);
      for (const id of [queueId, deadLetterId]) {
        const policy = ofType('AWS::SQS::QueuePolicy').find(([, r]) =>
          r.Properties.Queues.some((q: { Ref: string }) => q.Ref === id),
        )!;
        expect(policy[1].Properties.PolicyDocument.Statement).toContainEqual(
          expect.objectContaining({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        );
      }
    }
  });

  it('creates each mapping after the role policy that lets it read the stream and send failures', () => {
    for (const prefix of ['Archiver', 'Alerter'] as const) {
      const [, entry] = ofType('AWS::Lambda::EventSourceMapping').find(
        ([, r]) => r.Properties.FunctionName.Ref === logicalIdOf(template, 'AWS::Lambda::Function', prefix),
      )!;
      expect((entry as unknown as { DependsOn: string[] }).DependsOn).toContain(
        logicalIdOf(template, 'AWS::IAM::Policy', `${prefix}RoleDefaultPolicy`),
      );
    }
  });
});

describe('alerts', () => {
  const rules = buildAlertRules(alertRulesConfig(config));
  const busId = () => logicalIdOf(template, 'AWS::Events::EventBus', 'AlertsBus');
  const topicId = () => logicalIdOf(template, 'AWS::SNS::Topic', 'AlertsTopic');
  const busRules = () =>
    ofType('AWS::Events::Rule').filter(([, r]) => r.Properties.EventBusName?.Ref === busId());

  it('creates the audit bus', () => {
    expect(resources[busId()]!.Properties.Name).toBe('audit-trail-dev');
  });

  it('creates exactly one rule per catalogue entry, named after it, with the catalogue pattern as-is', () => {
    expect(rules.length).toBeGreaterThan(0);
    const byName = Object.fromEntries(busRules().map(([, r]) => [r.Properties.Name, r.Properties]));
    expect(Object.keys(byName).sort()).toEqual(rules.map((rule) => `audit-trail-dev-${rule.name}`).sort());
    for (const rule of rules) {
      const props = byName[`audit-trail-dev-${rule.name}`]!;
      expect(props.EventPattern).toEqual(rule.pattern);
      expect(props.Description).toBe(`[${rule.severity}] ${rule.description}`);
      expect(props.State).toBe('ENABLED');
    }
    const breakGlass = byName['audit-trail-dev-break-glass-actor']!.EventPattern;
    expect(JSON.stringify(breakGlass)).toContain('break-glass-admin'); // from config.alerts.breakGlassActors
    expect(byName['audit-trail-dev-integrity-violation']!.EventPattern).toEqual({
      source: [AUDIT_SOURCE],
      'detail-type': [INTEGRITY_VIOLATION_DETAIL_TYPE],
    });
  });

  it('delivers each rule to the alert topic with retries, a dead-letter queue and a message naming the alert', () => {
    const deadLetters = logicalIdOf(template, 'AWS::SQS::Queue', 'AlertsDeadLettersQueue');
    for (const [, rule] of busRules()) {
      expect(rule.Properties.Targets).toHaveLength(1);
      const target = rule.Properties.Targets[0];
      expect(target.Arn).toEqual({ Ref: topicId() });
      expect(target.DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': [deadLetters, 'Arn'] } });
      expect(target.RetryPolicy).toEqual({ MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 185 });
      const message = JSON.parse(
        target.InputTransformer.InputTemplate.replace('<aws.events.event.json>', '{"detail":{}}'),
      );
      const alert = rules.find((r) => `audit-trail-dev-${r.name}` === rule.Properties.Name)!;
      expect(message).toEqual({
        alert: alert.name,
        severity: alert.severity,
        description: alert.description,
        event: { detail: {} },
      });
    }
    const queue = resources[deadLetters]!.Properties;
    expect(importOf(queue.KmsMasterKeyId)).toMatch(/^FnGetAttOperationsKey/);
  });

  it('lets only these rules send to the dead-letter queue and publish to the topic', () => {
    const ruleArns = busRules()
      .map(([id]) => ({ 'Fn::GetAtt': [id, 'Arn'] }))
      .sort((a, b) => a['Fn::GetAtt'][0]!.localeCompare(b['Fn::GetAtt'][0]!));
    const topicPolicy = ofType('AWS::SNS::TopicPolicy')[0]![1].Properties.PolicyDocument.Statement;
    const fromEvents = topicPolicy.find((s: { Sid?: string }) => s.Sid === 'AllowTheAlertRules');
    expect(
      [...fromEvents.Condition.ArnEquals['aws:SourceArn']].sort((a, b) =>
        a['Fn::GetAtt'][0].localeCompare(b['Fn::GetAtt'][0]),
      ),
    ).toEqual(ruleArns);
    expect(topicPolicy).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
  });

  it('encrypts the topic with the operations key and subscribes the configured emails', () => {
    const topic = resources[topicId()]!.Properties;
    expect(importOf(topic.KmsMasterKeyId)).toMatch(/^FnGetAttOperationsKey\w+Arn$/);
    expect(topic.TopicName).toBe('audit-trail-dev-alerts');
    const emails = ofType('AWS::SNS::Subscription').map(([, s]) => ({
      protocol: s.Properties.Protocol,
      endpoint: s.Properties.Endpoint,
      topic: s.Properties.TopicArn,
    }));
    expect(emails).toEqual(
      config.alerts.emailRecipients.map((endpoint) => ({
        protocol: 'email',
        endpoint,
        topic: { Ref: topicId() },
      })),
    );
  });
});

describe('integrity monitor', () => {
  it('runs the monitor function on a 15-minute schedule', () => {
    const schedules = ofType('AWS::Events::Rule').filter(([, r]) => r.Properties.ScheduleExpression);
    expect(schedules).toHaveLength(1);
    const [, rule] = schedules[0]!;
    expect(rule.Properties.ScheduleExpression).toBe('rate(15 minutes)');
    expect(rule.Properties.Targets).toEqual([
      expect.objectContaining({
        Arn: arnOf('MonitorFunction', 'AWS::Lambda::Function'),
        RetryPolicy: { MaximumEventAgeInSeconds: 900, MaximumRetryAttempts: 2 },
      }),
    ]);
  });

  it('alarms on any IntegrityViolations in the namespace and service dimension the handler publishes', () => {
    const [, alarm] = ofType('AWS::CloudWatch::Alarm').find(
      ([, a]) => a.Properties.MetricName === 'IntegrityViolations',
    )!;
    expect(alarm.Properties).toMatchObject({
      Namespace: 'AuditTrail',
      Dimensions: [{ Name: 'service', Value: 'audit-trail-monitor' }],
      Statistic: 'Sum',
      Period: 900,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    const monitorEnv =
      resources[logicalIdOf(template, 'AWS::Lambda::Function', 'Monitor')]!.Properties.Environment.Variables;
    expect(monitorEnv).toMatchObject({
      POWERTOOLS_METRICS_NAMESPACE: 'AuditTrail',
      POWERTOOLS_SERVICE_NAME: 'audit-trail-monitor',
    });
  });

  it('alarms when the monitor has not run for three intervals', () => {
    const [, alarm] = ofType('AWS::CloudWatch::Alarm').find(
      ([, a]) => a.Properties.MetricName === 'Invocations',
    )!;
    expect(alarm.Properties).toMatchObject({
      Namespace: 'AWS/Lambda',
      Period: 2700,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
  });
});

describe('Athena', () => {
  const table = () => ofType('AWS::Glue::Table')[0]![1].Properties;

  it('creates the Glue database and the audit_events table over the archive events/ prefix with the JSON SerDe', () => {
    expect(ofType('AWS::Glue::Database')[0]![1].Properties.DatabaseInput.Name).toBe('audit_trail_dev');
    expect(table().DatabaseName).toBe('audit_trail_dev');
    expect(table().TableInput.Name).toBe(AUDIT_EVENTS_TABLE);
    expect(table().TableInput.TableType).toBe('EXTERNAL_TABLE');
    const storage = table().TableInput.StorageDescriptor;
    expect(flatten(storage.Location)).toMatch(
      /^s3:\/\/<import AuditTrail-dev-Stateful:ExportsOutputRefArchiveBucket\w+>\/events\/$/,
    );
    expect(storage).toMatchObject({
      InputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
      OutputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
      Compressed: true,
      SerdeInfo: { SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe' },
    });
    expect(storage.Columns).toEqual(
      AUDIT_EVENTS_COLUMNS.map(({ name, type }) => ({ Name: name, Type: type })),
    );
    expect(table().TableInput.PartitionKeys).toEqual(
      AUDIT_EVENTS_PARTITION_KEYS.map(({ name, type }) => ({ Name: name, Type: type })),
    );
  });

  it('projects the tenant (configured tenants) and dt (yyyy-MM-dd dates up to today) partitions', () => {
    const parameters = table().TableInput.Parameters;
    expect(parameters).toMatchObject({
      'projection.enabled': 'true',
      'projection.tenant.type': 'enum',
      'projection.tenant.values': config.tenants.map((t) => t.name).join(','),
      'projection.dt.type': 'date',
      'projection.dt.format': 'yyyy-MM-dd',
      'projection.dt.range': '2024-01-01,NOW',
      'projection.dt.interval': '1',
      'projection.dt.interval.unit': 'DAYS',
      compressionType: 'gzip',
      classification: 'json',
    });
    expect(flatten(parameters['storage.location.template'])).toMatch(
      /^s3:\/\/<import AuditTrail-dev-Stateful:ExportsOutputRefArchiveBucket\w+>\/events\/tenant=\$\{tenant\}\/dt=\$\{dt\}\/$/,
    );
  });

  it('enforces the workgroup settings: engine 3, SSE_KMS results in the results bucket, scan cutoff, metrics', () => {
    const [, workGroup] = ofType('AWS::Athena::WorkGroup')[0]!;
    expect(workGroup.Properties.Name).toBe('audit-trail-dev');
    const settings = workGroup.Properties.WorkGroupConfiguration;
    expect(settings).toMatchObject({
      EnforceWorkGroupConfiguration: true,
      PublishCloudWatchMetricsEnabled: true,
      BytesScannedCutoffPerQuery: config.athena.bytesScannedCutoff,
      EngineVersion: { SelectedEngineVersion: 'Athena engine version 3' },
    });
    expect(settings.ResultConfiguration.EncryptionConfiguration.EncryptionOption).toBe('SSE_KMS');
    expect(importOf(settings.ResultConfiguration.EncryptionConfiguration.KmsKey)).toMatch(
      /^FnGetAttQueryResultsKey/,
    );
    expect(flatten(settings.ResultConfiguration.OutputLocation)).toMatch(
      /^s3:\/\/<import AuditTrail-dev-Stateful:ExportsOutputRefQueryResultsBucket\w+>\/results\/$/,
    );
  });

  it('creates one named query per report of the catalogue, with its SQL, in the workgroup and database', () => {
    const queries = ofType('AWS::Athena::NamedQuery').map(([, q]) => q.Properties);
    expect(queries.map((q) => q.Name).sort()).toEqual(REPORT_QUERIES.map((q) => q.name).sort());
    for (const report of REPORT_QUERIES) {
      expect(queries.find((q) => q.Name === report.name)).toEqual({
        Name: report.name,
        Description: report.description,
        Database: 'audit_trail_dev',
        WorkGroup: 'audit-trail-dev',
        QueryString: report.sql,
      });
    }
  });

  it('exports an auditor query policy scoped to the workgroup, the table, the archive and the results prefix', () => {
    const statements = resources[logicalIdOf(template, 'AWS::IAM::ManagedPolicy', 'QueriesQueryPolicy')]!
      .Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[];
    const lines = statements.flatMap((s) =>
      [s.Action]
        .flat()
        .flatMap((action) =>
          [s.Resource]
            .flat()
            .map(
              (resource) =>
                `${action} ${flatten(resource).replace(/<import [^>]+(Archive|QueryResults)\w+>/, '<$1>')}`,
            ),
        ),
    );
    expect(lines).toContain(
      'athena:StartQueryExecution arn:<AWS::Partition>:athena:<AWS::Region>:<AWS::AccountId>:workgroup/audit-trail-dev',
    );
    expect(lines).toContain(
      'glue:GetTable arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/audit_trail_dev/audit_events',
    );
    expect(lines).toContain('s3:GetObject <Archive>/*');
    expect(lines).toContain('s3:PutObject <QueryResults>/results/*');
    expect(lines.join('\n')).not.toMatch(/athena:\*|glue:\*|s3:\*|s3:PutObject <Archive>|s3:Delete/);
    expect(template.toJSON().Outputs.AuditorQueryPolicyArn.Export).toEqual({
      Name: 'AuditTrail-dev-Stateless-AuditorQueryPolicyArn',
    });
  });
});

describe('operations', () => {
  const alarms = () => ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
  const describeAlarm = (a: Resources[string]['Properties']) =>
    a.MetricName
      ? `${a.Namespace}/${a.MetricName}`
      : `math(${(a.Metrics as { MetricStat?: { Metric: { MetricName: string } } }[])
          .flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric.MetricName] : []))
          .join('+')})`;

  it('alarms on API 5XX, each function error, iterator age per consumer, failure queues and integrity', () => {
    expect(alarms().map(describeAlarm).sort()).toEqual(
      [
        'AWS/ApiGateway/5XXError',
        ...Array(5).fill('AWS/Lambda/Errors'),
        'AWS/Lambda/IteratorAge',
        'AWS/Lambda/IteratorAge',
        'AWS/Lambda/Invocations',
        'AuditTrail/IntegrityViolations',
        'AuditTrail/MonitorErrors',
        ...Array(3).fill('math(ApproximateNumberOfMessagesVisible+ApproximateNumberOfMessagesVisible)'),
      ].sort(),
    );
  });

  it('alarms on iterator age per consumer function', () => {
    const iteratorAge = alarms().filter((a) => a.MetricName === 'IteratorAge');
    expect(iteratorAge.map((a) => a.Dimensions[0].Value.Ref).sort()).toEqual(
      ['Archiver', 'Alerter'].map((p) => logicalIdOf(template, 'AWS::Lambda::Function', p)).sort(),
    );
    for (const alarm of iteratorAge)
      expect(alarm).toMatchObject({ Statistic: 'Maximum', Threshold: 300_000 });
  });

  it('alarms as soon as a failure queue holds a message', () => {
    for (const alarm of alarms().filter((a) => !a.MetricName)) {
      expect(alarm).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
      expect(
        alarm.Metrics.filter((m: { MetricStat?: unknown }) => m.MetricStat).map(
          (m: { MetricStat: { Metric: { Namespace: string } } }) => m.MetricStat.Metric.Namespace,
        ),
      ).toEqual(['AWS/SQS', 'AWS/SQS']);
    }
  });

  it('sends every alarm to the alert topic', () => {
    const topic = ref('AlertsTopic', 'AWS::SNS::Topic');
    for (const alarm of alarms()) expect(alarm.AlarmActions).toEqual([topic]);
  });

  it('has a dashboard with ingest, stream, failure-queue and integrity metrics', () => {
    const [, dashboard] = ofType('AWS::CloudWatch::Dashboard')[0]!;
    expect(dashboard.Properties.DashboardName).toBe('audit-trail-dev');
    const body = flatten(dashboard.Properties.DashboardBody);
    for (const metric of [
      ...INGEST_METRICS,
      'IteratorAge',
      'ApproximateNumberOfMessagesVisible',
      'IntegrityViolations',
      'ArchiveLagWarnings',
      'ArchivedObjects',
      'AuditEventsPublished',
      '5XXError',
    ]) {
      expect(body).toContain(`"${metric}"`);
    }
    expect(body).toContain('"audit-trail-ingest"'); // the ingest metrics' service dimension
  });

  it('exports the alert topic, bus, Athena names and the legal hold policy', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Export?: { Name: string } }>;
    for (const name of [
      'AlertTopicArn',
      'EventBusName',
      'AthenaWorkGroup',
      'GlueDatabase',
      'LegalHoldPolicyArn',
      'DashboardName',
    ]) {
      expect(outputs[name]?.Export).toEqual({ Name: `AuditTrail-dev-Stateless-${name}` });
    }
    const legalHold =
      resources[logicalIdOf(template, 'AWS::IAM::ManagedPolicy', 'LegalHoldPolicy')]!.Properties
        .PolicyDocument.Statement;
    expect(legalHold).toEqual([
      expect.objectContaining({ Action: ['s3:GetObjectLegalHold', 's3:PutObjectLegalHold'] }),
    ]);
  });
});

describe('construct validation', () => {
  const fnProps = { entry: 'unused.ts', serviceName: 's', depsLockFilePath: 'package-lock.json' };

  it('rejects an API function timeout over 29 s, and any timeout over 15 minutes', () => {
    expect(() => new AuditFunction(new Stack(), 'F', { ...fnProps, timeout: Duration.seconds(30) })).toThrow(
      "timeout must be 1 to 29 seconds (API Gateway's limit), got 30",
    );
    expect(
      () =>
        new AuditFunction(new Stack(), 'F', { ...fnProps, trigger: 'event', timeout: Duration.minutes(16) }),
    ).toThrow("timeout must be 1 to 900 seconds (Lambda's limit), got 960");
  });

  it('deploys an extra alert rule from the config like a catalogue rule, and rejects names over 64 characters', () => {
    const extra = {
      name: 'kms-key-deletion',
      description: 'A KMS key was scheduled for deletion.',
      severity: 'high' as const,
      pattern: { source: [AUDIT_SOURCE], detail: { record: { action: ['kms.key.schedule-deletion'] } } },
    };
    const stack = new Stack();
    const encryptionKey = new OperationsKey(stack, 'Key');
    new AuditAlerts(stack, 'Alerts', {
      stageName: 'prod',
      rules: buildAlertRules({ extraRules: [extra] }),
      encryptionKey,
    });
    Template.fromStack(stack).hasResourceProperties('AWS::Events::Rule', {
      Name: 'audit-trail-prod-kms-key-deletion',
      EventPattern: extra.pattern,
    });
    const long = { ...extra, name: 'x'.repeat(60) };
    expect(
      () =>
        new AuditAlerts(new Stack(), 'Alerts', {
          stageName: 'prod',
          rules: [long],
          encryptionKey: new OperationsKey(new Stack(), 'K'),
        }),
    ).toThrow(`alert rule name audit-trail-prod-${'x'.repeat(60)} must be 1-64 letters`);
  });

  it('rejects an integrity monitor interval that is not whole minutes from 5 to 1440', () => {
    const stack = new Stack(newApp({ bundle: false }), 'S');
    const fn = new AuditFunction(stack, 'F', {
      ...fnProps,
      entry: HANDLER_ENTRIES.monitor,
      trigger: 'event',
    });
    expect(() => new IntegrityMonitor(stack, 'M', { function: fn, interval: Duration.minutes(2) })).toThrow(
      'interval must be a whole number of minutes from 5 to 1440, got 2',
    );
  });
});
