import { fileURLToPath } from 'node:url';
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { ENV } from '#core/env-names.ts';
import { type StageConfig, tenantsEnvironmentValue } from '../config/schema.ts';
import { ApiAccessPolicies } from '../constructs/api-access-policies.ts';
import { AuditApi } from '../constructs/audit-api.ts';
import { AuditFunction } from '../constructs/audit-function.ts';
import type { LedgerTable } from '../constructs/ledger-table.ts';
import type { SigningKey } from '../constructs/signing-key.ts';

const projectFile = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

/** Handler entry files (each exports `handler`). */
export const HANDLER_ENTRIES = {
  ingest: projectFile('lambdas/handlers/ingest.ts'),
  read: projectFile('lambdas/handlers/read.ts'),
} as const;

export interface StatelessStackProps extends StackProps {
  readonly stageName: string;
  readonly config: StageConfig;
  readonly signingKey: SigningKey;
  readonly ledger: LedgerTable;
}

/**
 * Everything that can be replaced freely: the functions, the API and the callers' role policies
 * (issue 4 adds the stream consumers, bus rules and monitor here).
 */
export class StatelessStack extends Stack {
  readonly ingestFunction: AuditFunction;
  readonly readFunction: AuditFunction;
  readonly api: AuditApi;
  readonly policies: ApiAccessPolicies;

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, props);
    const { stageName, config, signingKey, ledger } = props;

    const common = {
      depsLockFilePath: projectFile('package-lock.json'),
      logRetention: config.logRetentionDays,
      tracing: config.api.tracing,
      environment: {
        [ENV.deploymentOrigin]: config.deploymentOrigin,
        [ENV.tenants]: tenantsEnvironmentValue(config),
      },
    };
    this.ingestFunction = new AuditFunction(this, 'Ingest', {
      ...common,
      entry: HANDLER_ENTRIES.ingest,
      serviceName: 'audit-trail-ingest',
      description:
        'POST /v1/events: validate, append to the tenant log, sign the checkpoint, return receipts',
    });
    ledger.bindTo(this.ingestFunction, 'append');
    signingKey.bindTo(this.ingestFunction, 'sign');

    this.readFunction = new AuditFunction(this, 'Read', {
      ...common,
      entry: HANDLER_ENTRIES.read,
      serviceName: 'audit-trail-read',
      description: 'GET /v1/*: events, receipts, checkpoints, appends, public keys, OpenAPI',
    });
    // Public keys are served from the table (KEYS partition), so the read path never touches KMS.
    ledger.bindTo(this.readFunction, 'read');

    this.api = new AuditApi(this, 'Api', {
      stageName,
      ingestFunction: this.ingestFunction.function,
      readFunction: this.readFunction.function,
      throttling: config.api.throttling,
      tracing: config.api.tracing,
      executionLogLevel: config.api.executionLogLevel,
      webAclArn: config.api.webAclArn,
      accessLogRetention: config.logRetentionDays,
    });
    this.policies = new ApiAccessPolicies(this, 'AccessPolicies', { api: this.api });

    const exported = (name: string, value: string, description: string) =>
      new CfnOutput(this, name, { value, description, exportName: `${this.stackName}-${name}` });
    exported('ApiUrl', this.api.url, 'Base URL of the audit trail API (SigV4)');
    exported('WriterPolicyArn', this.policies.writer.managedPolicyArn, 'Attach to roles that record events');
    exported('ReaderPolicyArn', this.policies.reader.managedPolicyArn, 'Attach to roles that query events');
    exported('AuditorPolicyArn', this.policies.auditor.managedPolicyArn, 'Attach to auditors: every GET');
  }
}
