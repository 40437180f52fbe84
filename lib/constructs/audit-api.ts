import {
  aws_apigateway as apigw,
  aws_cloudwatch as cloudwatch,
  Duration,
  type aws_lambda as lambda,
  aws_logs as logs,
  RemovalPolicy,
  Stack,
  Validations,
  aws_wafv2 as wafv2,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { API_ROUTES, type ApiRoute } from '#core/api-routes.ts';
import { eventBatchGatewayModel } from '#core/openapi.ts';
import { LIMITS } from '#core/schema.ts';

/**
 * Most events one POST may carry (the core's limit: one DynamoDB transaction per request). Enforced by the
 * ingest handler (413 `too_large`), not by API Gateway.
 */
export const MAX_EVENTS_PER_REQUEST = LIMITS.maxBatchEvents;

/**
 * Body shape API Gateway checks before the ingest function runs: `eventBatchGatewayModel()` from
 * `#core/openapi.ts`, the envelope only (an object with a non-empty `events` array of objects, no other
 * field, no maxItems). Everything else is the handler's: each event is validated there so that a bad event
 * gets `invalid_event` with its index and path, and a batch over MAX_EVENTS_PER_REQUEST gets 413, answers a
 * gateway 400 could not give.
 */
export const EVENTS_REQUEST_SCHEMA: apigw.JsonSchema = {
  schema: apigw.JsonSchemaVersion.DRAFT4,
  title: 'EventsRequest',
  ...(eventBatchGatewayModel() as apigw.JsonSchema),
};

/** Gateway-generated errors, as `{"error":{"code","message"}}` with stable codes. */
export const GATEWAY_ERRORS: ReadonlyArray<{ type: apigw.ResponseType; code: string; retryAfter?: boolean }> =
  [
    { type: apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, code: 'unauthorized' },
    { type: apigw.ResponseType.INVALID_SIGNATURE, code: 'unauthorized' },
    { type: apigw.ResponseType.EXPIRED_TOKEN, code: 'unauthorized' },
    { type: apigw.ResponseType.UNAUTHORIZED, code: 'unauthorized' },
    { type: apigw.ResponseType.ACCESS_DENIED, code: 'forbidden' },
    { type: apigw.ResponseType.WAF_FILTERED, code: 'forbidden' },
    { type: apigw.ResponseType.THROTTLED, code: 'throttled', retryAfter: true },
    { type: apigw.ResponseType.QUOTA_EXCEEDED, code: 'throttled', retryAfter: true },
    { type: apigw.ResponseType.REQUEST_TOO_LARGE, code: 'too_large' },
    { type: apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE, code: 'unsupported_media_type' },
    { type: apigw.ResponseType.BAD_REQUEST_BODY, code: 'invalid_request' },
    { type: apigw.ResponseType.BAD_REQUEST_PARAMETERS, code: 'invalid_request' },
    { type: apigw.ResponseType.RESOURCE_NOT_FOUND, code: 'not_found' },
    { type: apigw.ResponseType.INTEGRATION_TIMEOUT, code: 'unavailable', retryAfter: true },
    { type: apigw.ResponseType.INTEGRATION_FAILURE, code: 'unavailable', retryAfter: true },
    { type: apigw.ResponseType.DEFAULT_4XX, code: 'invalid_request' },
    { type: apigw.ResponseType.DEFAULT_5XX, code: 'internal_error' },
  ];

export interface AuditApiProps {
  /** Handles POST /v1/events. */
  readonly ingestFunction: lambda.IFunction;
  /** Handles every GET. */
  readonly readFunction: lambda.IFunction;
  /** Stage name, the first path segment of the URL. */
  readonly stageName: string;
  /**
   * Stage-wide throttling: steady requests per second and burst size.
   * @default - rateLimit 100, burstLimit 200
   */
  readonly throttling?: { readonly rateLimit: number; readonly burstLimit: number };
  /**
   * X-Ray tracing on the stage.
   * @default false
   */
  readonly tracing?: boolean;
  /**
   * Execution log level. Anything but OFF needs the account's API Gateway CloudWatch role.
   * @default 'OFF' - access logs only
   */
  readonly executionLogLevel?: 'OFF' | 'ERROR' | 'INFO';
  /**
   * Regional WAFv2 web ACL to associate with the stage.
   * @default - none
   */
  readonly webAclArn?: string;
  /**
   * Retention of the access log group.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly accessLogRetention?: logs.RetentionDays;
  /**
   * JSON schema (draft 4) of the POST /v1/events body.
   * @default EVENTS_REQUEST_SCHEMA - the envelope only: `events`, a non-empty array of objects
   */
  readonly eventsRequestSchema?: apigw.JsonSchema;
}

const DEFAULT_PROPS = {
  throttling: { rateLimit: 100, burstLimit: 200 },
  tracing: false,
  executionLogLevel: 'OFF',
  accessLogRetention: logs.RetentionDays.ONE_YEAR,
  eventsRequestSchema: EVENTS_REQUEST_SCHEMA,
} as const;

const LOG_LEVELS = { ERROR: apigw.MethodLoggingLevel.ERROR, INFO: apigw.MethodLoggingLevel.INFO } as const;

/**
 * The regional REST API (HTTP API v1). Every method requires SigV4 (AWS_IAM); API Gateway checks the
 * body shape of POSTs and required path parameters; gateway errors are JSON; access logs are structured
 * JSON naming the caller's principal ARN.
 */
export class AuditApi extends Construct {
  readonly api: apigw.RestApi;
  readonly accessLogGroup: logs.LogGroup;
  readonly stageName: string;
  /** Fires on any 5XX from the API in a 5-minute period. */
  readonly serverErrorsAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: AuditApiProps) {
    super(scope, id);
    const p = { ...DEFAULT_PROPS, ...props };
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(p.stageName)) {
      throw new Error(`stageName must be 1-128 letters, digits, "-" or "_", got ${p.stageName}`);
    }
    if (
      !(p.throttling.rateLimit > 0) ||
      !Number.isInteger(p.throttling.burstLimit) ||
      p.throttling.burstLimit < 1
    ) {
      throw new Error(
        `throttling needs rateLimit > 0 and a whole burstLimit >= 1, got ${JSON.stringify(p.throttling)}`,
      );
    }
    this.stageName = p.stageName;

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogs', {
      retention: p.accessLogRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.api = new apigw.RestApi(this, 'Api', {
      restApiName: `audit-trail-${p.stageName}`,
      description: 'Tamper-evident audit trail: HTTP API v1 (SigV4)',
      endpointConfiguration: { types: [apigw.EndpointType.REGIONAL] },
      cloudWatchRole: false,
      defaultMethodOptions: { authorizationType: apigw.AuthorizationType.IAM },
      deployOptions: {
        stageName: p.stageName,
        throttlingRateLimit: p.throttling.rateLimit,
        throttlingBurstLimit: p.throttling.burstLimit,
        tracingEnabled: p.tracing,
        metricsEnabled: true,
        ...(p.executionLogLevel === 'OFF' ? {} : { loggingLevel: LOG_LEVELS[p.executionLogLevel] }),
        dataTraceEnabled: false, // would copy full request bodies (audit events) into CloudWatch
        accessLogDestination: new apigw.LogGroupLogDestination(this.accessLogGroup),
        accessLogFormat: accessLogFormat(),
      },
    });

    const bodyValidator = this.api.addRequestValidator('BodyValidator', {
      requestValidatorName: 'body-and-parameters',
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const paramsValidator = this.api.addRequestValidator('ParametersValidator', {
      requestValidatorName: 'parameters',
      validateRequestBody: false,
      validateRequestParameters: true,
    });
    const eventsModel = this.api.addModel('EventsRequestModel', {
      contentType: 'application/json',
      modelName: 'EventsRequest',
      schema: p.eventsRequestSchema,
    });

    const integrations = {
      ingest: new apigw.LambdaIntegration(p.ingestFunction, { proxy: true, allowTestInvoke: false }),
      read: new apigw.LambdaIntegration(p.readFunction, { proxy: true, allowTestInvoke: false }),
    };
    for (const route of API_ROUTES) {
      const resource = this.api.root.resourceForPath(route.resource);
      const requestParameters: Record<string, boolean> = {};
      for (const [, name] of route.resource.matchAll(/\{([^}]+)\}/g))
        requestParameters[`method.request.path.${name}`] = true;
      const hasBody = route.method === 'POST';
      const method = resource.addMethod(route.method, integrations[route.target], {
        authorizationType: apigw.AuthorizationType.IAM,
        requestValidator: hasBody ? bodyValidator : paramsValidator,
        ...(hasBody ? { requestModels: { 'application/json': eventsModel } } : {}),
        requestParameters,
      });
      Validations.of(method).acknowledge({
        id: 'AwsSolutions-COG4',
        reason:
          'Callers are IAM principals (CI pipelines, services, auditors) signing with SigV4: the method uses AWS_IAM authorization and the handler maps the principal to its tenant.',
      });
    }

    for (const { type, code, retryAfter } of GATEWAY_ERRORS) {
      this.api.addGatewayResponse(`Error${type.responseType}`, {
        type,
        responseHeaders: {
          'Content-Type': "'application/json'",
          ...(retryAfter ? { 'Retry-After': "'1'" } : {}),
        },
        templates: {
          'application/json': `{"error":{"code":"${code}","message":$context.error.messageString,"requestId":"$context.requestId"}}`,
        },
      });
    }

    if (p.webAclArn !== undefined) {
      new wafv2.CfnWebACLAssociation(this, 'WebAcl', {
        resourceArn: this.api.deploymentStage.stageArn,
        webAclArn: p.webAclArn,
      });
    } else {
      Validations.of(this.api.deploymentStage).acknowledge({
        id: 'AwsSolutions-APIG3',
        reason:
          'Every method requires SigV4 (AWS_IAM) and stage throttling is on; a WAF web ACL is optional (config api.webAclArn) for teams that run one.',
      });
    }
    if (p.executionLogLevel === 'OFF') {
      Validations.of(this.api.deploymentStage).acknowledge({
        id: 'AwsSolutions-APIG6',
        reason:
          'JSON access logs (caller ARN, status, latency, error type) are always on; execution logs need the account-wide API Gateway CloudWatch role, which this app must not own. Opt in with config api.executionLogLevel.',
      });
    }

    this.serverErrorsAlarm = this.api
      .metricServerError({ period: Duration.minutes(5), statistic: 'Sum' })
      .createAlarm(this, 'ServerErrorsAlarm', {
        alarmDescription: 'audit-trail API: 5XX responses',
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
  }

  /** The API's base URL, `https://<id>.execute-api.<region>.amazonaws.com/<stage>/`. */
  get url(): string {
    return this.api.url;
  }

  /**
   * execute-api ARN for a route of this API's stage; path parameters (`{id}`) become `*`.
   * E.g. `arnForRoute('GET', '/v1/events/{id}')` -> `arn:…:execute-api:…:<api>/<stage>/GET/v1/events/*`.
   */
  arnForRoute(method: ApiRoute['method'], resource: string): string {
    return Stack.of(this).formatArn({
      service: 'execute-api',
      resource: this.api.restApiId,
      resourceName: `${this.stageName}/${method}${resource.replace(/\{[^}]+\}/g, '*')}`,
    });
  }
}

/** Structured JSON access log; every value is from a fixed alphabet, so the line stays valid JSON. */
function accessLogFormat(): apigw.AccessLogFormat {
  const F = apigw.AccessLogField;
  const fields: Record<string, string> = {
    requestId: F.contextRequestId(),
    extendedRequestId: F.contextExtendedRequestId(),
    requestTime: F.contextRequestTime(),
    httpMethod: F.contextHttpMethod(),
    resourcePath: F.contextResourcePath(),
    status: F.contextStatus(),
    responseLength: F.contextResponseLength(),
    responseLatency: F.contextResponseLatency(),
    integrationLatency: F.contextIntegrationLatency(),
    errorType: F.contextErrorResponseType(),
    protocol: F.contextProtocol(),
    sourceIp: F.contextIdentitySourceIp(),
    accountId: F.contextIdentityAccountId(),
    caller: F.contextIdentityCaller(),
    userArn: F.contextIdentityUserArn(),
  };
  return apigw.AccessLogFormat.custom(
    `{${Object.entries(fields)
      .map(([name, value]) => `"${name}":"${value}"`)
      .join(',')}}`,
  );
}
