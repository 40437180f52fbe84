import {
  aws_cloudwatch as cloudwatch,
  Duration,
  aws_iam as iam,
  aws_lambda as lambda,
  aws_logs as logs,
  aws_lambda_nodejs as nodejs,
  RemovalPolicy,
  Validations,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { IBindableFunction } from './bindable.ts';

/** The newest Node.js runtime this aws-cdk-lib offers; bump it with aws-cdk-lib. */
export const FUNCTION_RUNTIME = lambda.Runtime.NODEJS_24_X;

// ESM bundles of CommonJS dependencies still call require() for Node built-ins.
const ESM_REQUIRE_BANNER =
  "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);";

export interface AuditFunctionProps {
  /** Absolute path of the handler file; it must export `handler`. */
  readonly entry: string;
  /** Powertools service name (POWERTOOLS_SERVICE_NAME), also the metrics `service` dimension. */
  readonly serviceName: string;
  /** Absolute path of the lockfile at the project root (esbuild resolves `#core/*` imports from there). */
  readonly depsLockFilePath: string;
  /**
   * Function description.
   * @default - none
   */
  readonly description?: string;
  /**
   * CloudWatch metrics namespace (POWERTOOLS_METRICS_NAMESPACE).
   * @default 'AuditTrail'
   */
  readonly metricsNamespace?: string;
  /**
   * Memory in MB; CPU scales with it.
   * @default 1024
   */
  readonly memorySize?: number;
  /**
   * Timeout: at most 29 s for `trigger: 'api'` (API Gateway gives up then), at most 15 minutes otherwise.
   * @default 10 seconds
   */
  readonly timeout?: Duration;
  /**
   * What invokes the function: `'api'` (API Gateway, caps the timeout at 29 s) or `'event'` (a stream,
   * a schedule: Lambda's own 15-minute limit).
   * @default 'api'
   */
  readonly trigger?: 'api' | 'event';
  /**
   * Retention of the function's log group.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * X-Ray active tracing.
   * @default false
   */
  readonly tracing?: boolean;
  /**
   * Extra environment variables.
   * @default - none
   */
  readonly environment?: Readonly<Record<string, string>>;
}

const DEFAULT_PROPS = {
  metricsNamespace: 'AuditTrail',
  memorySize: 1024,
  timeout: Duration.seconds(10),
  trigger: 'api',
  logRetention: logs.RetentionDays.ONE_YEAR,
  tracing: false,
  environment: {},
} as const;

/**
 * A Lambda function as every audit-trail function is built: Node.js (newest runtime) on arm64, an ESM
 * bundle made locally by esbuild (minified, with source maps, AWS SDK included so its version is the one
 * in package-lock.json), Powertools settings, its own log group with retention, and a role that starts
 * with nothing but writing to that log group (no AWS managed policy). Grants come from `bindTo`.
 */
export class AuditFunction extends Construct implements IBindableFunction {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  /** Fires when any invocation fails in a 5-minute period. */
  readonly errorsAlarm: cloudwatch.Alarm;
  /** Namespace of the function's Powertools metrics. */
  readonly metricsNamespace: string;
  /** Powertools service name: the `service` dimension of its metrics. */
  readonly serviceName: string;

  constructor(scope: Construct, id: string, props: AuditFunctionProps) {
    super(scope, id);
    const p = { ...DEFAULT_PROPS, ...props };
    if (!Number.isInteger(p.memorySize) || p.memorySize < 128 || p.memorySize > 10_240) {
      throw new Error(`memorySize must be a whole number of MB from 128 to 10240, got ${p.memorySize}`);
    }
    if (p.trigger === 'api' && (p.timeout.toSeconds() < 1 || p.timeout.toSeconds() > 29)) {
      throw new Error(`timeout must be 1 to 29 seconds (API Gateway's limit), got ${p.timeout.toSeconds()}`);
    }
    if (p.timeout.toSeconds() < 1 || p.timeout.toSeconds() > 900) {
      throw new Error(`timeout must be 1 to 900 seconds (Lambda's limit), got ${p.timeout.toSeconds()}`);
    }
    this.metricsNamespace = p.metricsNamespace;
    this.serviceName = p.serviceName;

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: p.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of the audit-trail ${p.serviceName} function`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: p.entry,
      handler: 'handler',
      description: p.description,
      depsLockFilePath: p.depsLockFilePath,
      runtime: FUNCTION_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: p.memorySize,
      timeout: p.timeout,
      role: this.role,
      logGroup: this.logGroup,
      tracing: p.tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
      environment: {
        POWERTOOLS_SERVICE_NAME: p.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: p.metricsNamespace,
        POWERTOOLS_LOG_LEVEL: 'INFO',
        NODE_OPTIONS: '--enable-source-maps',
        ...p.environment,
      },
      bundling: {
        forceDockerBundling: false,
        format: nodejs.OutputFormat.ESM,
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        bundleAwsSDK: true,
        externalModules: [],
      },
    });

    if (p.tracing) {
      // X-Ray's PutTraceSegments/PutTelemetryRecords accept no resource narrower than "*".
      Validations.of(this.role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords only support Resource "*".',
      });
    }

    this.errorsAlarm = this.metricErrors().createAlarm(this, 'ErrorsAlarm', {
      alarmDescription: `audit-trail ${p.serviceName}: invocations failed`,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  /**
   * A metric the handler emits with Powertools Metrics (namespace POWERTOOLS_METRICS_NAMESPACE, dimension
   * `service` = POWERTOOLS_SERVICE_NAME), e.g. `metric('eventsAccepted')`. Sum over 5 minutes by default.
   */
  metric(metricName: string, props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: this.metricsNamespace,
      metricName,
      dimensionsMap: { service: this.serviceName },
      statistic: 'Sum',
      period: Duration.minutes(5),
      ...props,
    });
  }

  /** AWS/Lambda Errors of the function (sum over 5 minutes): what `errorsAlarm` watches. */
  metricErrors(props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.function.metricErrors({ period: Duration.minutes(5), statistic: 'Sum', ...props });
  }

  get grantPrincipal(): iam.IPrincipal {
    return this.function.grantPrincipal;
  }

  addEnvironment(key: string, value: string): this {
    this.function.addEnvironment(key, value);
    return this;
  }
}
