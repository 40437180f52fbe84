import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type App, aws_dynamodb as dynamodb, aws_iam as iam, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { addAuditTrail } from '../../lib/audit-trail.ts';
import { ArchiveBucket } from '../../lib/constructs/archive-bucket.ts';
import { acknowledgeWildcardResources, applyNagChecks } from '../../lib/nag.ts';
import { devConfig, newApp } from './support.ts';

/**
 * Builds the app exactly as bin/app.ts does (stacks + nag plugin) and synthesizes it. Function code is
 * not bundled: nag checks resources, never code.
 */
function synthWithNag(config = devConfig()) {
  const app = newApp({ bundle: false });
  const stacks = addAuditTrail(app, { name: 'dev', config });
  applyNagChecks(app);
  const assembly = app.synth(); // throws the validation report on any unacknowledged finding
  return { app, stacks, assembly };
}

/** Findings a fresh AwsSolutions pack reports on the synthesized tree, acknowledged ones excluded. */
const unacknowledged = (app: App) =>
  new AwsSolutionsChecks().validateScope(app).violations.map((v) => ({
    rule: v.ruleName,
    severity: v.severity,
    at: v.violatingResources.map((r) => r.constructPath),
  }));

function acknowledgements(root: IConstruct): Array<{ path: string; id: string; reason: string }> {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}

describe('cdk-nag AwsSolutions', () => {
  let dev: ReturnType<typeof synthWithNag>;
  beforeAll(() => {
    dev = synthWithNag();
  });

  it('synthesizes the dev stage with zero unacknowledged findings, warnings included', () => {
    expect(unacknowledged(dev.app)).toEqual([]);
    const report = JSON.parse(readFileSync(join(dev.assembly.directory, 'validation-report.json'), 'utf8'));
    // What `cdk synth` prints and fails on: the policy-validation report of every registered plugin.
    expect(report.pluginReports.flatMap((r: { violations?: unknown[] }) => r.violations ?? [])).toEqual([]);
  });

  it('synthesizes with every option on (RSA, tracing, execution logs, WAF, pinned env) with zero unacknowledged findings', () => {
    const { app } = synthWithNag(
      devConfig({
        signingKeySpec: 'RSA_2048',
        env: { account: '111111111111', region: 'eu-west-1' },
        api: {
          tracing: true,
          executionLogLevel: 'ERROR',
          webAclArn:
            'arn:aws:wafv2:eu-west-1:111111111111:regional/webacl/audit/0c8f3b7e-1111-2222-3333-444455556666',
        },
      }),
    );
    expect(unacknowledged(app)).toEqual([]);
  });

  it('leaves no CDK warning or error annotations on either stack', () => {
    for (const stack of [dev.stacks.stateful, dev.stacks.stateless]) {
      expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
      expect(Annotations.fromStack(stack).findError('*', Match.anyValue())).toEqual([]);
    }
  });

  it('acknowledges only exact AwsSolutions rule ids, IAM5 per wildcard resource, each with a reason', () => {
    const acks = acknowledgements(dev.app);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(ack.id).toMatch(/^AwsSolutions-[A-Z]+\d+(\[(Resource|Action)::.+\])?$/);
      if (ack.id.startsWith('AwsSolutions-IAM5'))
        expect(ack.id).toMatch(/^AwsSolutions-IAM5\[Resource::.*\*.*\]$/);
      expect(ack.reason.length, `${ack.path} ${ack.id}`).toBeGreaterThan(40);
    }
    expect([...new Set(acks.map((a) => a.id.replace(/\[.*$/, '')))].sort()).toEqual([
      'AwsSolutions-APIG3',
      'AwsSolutions-APIG6',
      'AwsSolutions-COG4',
      'AwsSolutions-IAM5',
      'AwsSolutions-S1',
    ]);
  });

  it('acknowledges AwsSolutions-S1 only on the access log bucket, the one bucket that cannot log to another', () => {
    const s1 = acknowledgements(dev.app).filter((a) => a.id === 'AwsSolutions-S1');
    expect([...new Set(s1.map((a) => a.path))]).toEqual(['AuditTrail-dev-Stateful/Archive/AccessLogs']);
  });

  it('acknowledges wildcard archive resources only as the exact object prefixes each function writes or reads', () => {
    const iam5 = acknowledgements(dev.app)
      .filter(
        (a) =>
          a.id.startsWith('AwsSolutions-IAM5') &&
          a.path.includes('Stateless/') &&
          !a.path.includes('AccessPolicies'),
      )
      .map(
        (a) =>
          `${a.path.replace('AuditTrail-dev-Stateless/', '')} ${a.id.replace(/^.*Arn\w*\//, '').replace(/\]$/, '')}`,
      )
      .sort();
    expect(iam5).toEqual(
      [
        'Archiver/Role checkpoints/*',
        'Archiver/Role events/*',
        'Archiver/Role keys/*',
        'LegalHoldPolicy *',
        'Monitor/Role *',
        'Monitor/Role monitor/state/*',
        'Queries/QueryPolicy *',
        'Queries/QueryPolicy results/*',
      ].sort(),
    );
  });

  it('synthesizes with an extra alert rule with zero unacknowledged findings', () => {
    const { app } = synthWithNag(
      devConfig({
        alerts: {
          extraRules: [
            {
              name: 'kms-key-deletion',
              description: 'A KMS key was scheduled for deletion.',
              severity: 'high',
              pattern: {
                source: ['audit-trail'],
                detail: { record: { action: ['kms.key.schedule-deletion'] } },
              },
            },
          ],
        },
      }),
    );
    expect(unacknowledged(app)).toEqual([]);
  });

  it('fails synth on an unacknowledged finding, a warning-level one included', () => {
    const app = newApp();
    const stack = new Stack(app, 'Bad');
    new dynamodb.Table(stack, 'NoPitr', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    }); // DDB3: warning
    applyNagChecks(app);
    expect(() => app.synth()).toThrow(/AwsSolutions-DDB3/);
  });

  it('fails synth on an archive grant across stacks unless the acknowledged resource is the imported one', () => {
    const build = (acknowledge: boolean) => {
      const app = newApp();
      const producer = new Stack(app, 'Producer');
      const archive = new ArchiveBucket(producer, 'Archive');
      const consumer = new Stack(app, 'Consumer');
      const role = new iam.Role(consumer, 'Role', { assumedBy: new iam.AccountRootPrincipal() });
      if (acknowledge) archive.grantArchiveWrite(role, ['events/']);
      else
        iam.Grant.addToPrincipal({
          grantee: role,
          actions: ['s3:PutObject'],
          resourceArns: [`${archive.bucketArn}/events/*`],
        });
      applyNagChecks(app);
      return () => app.synth();
    };
    expect(build(true)).not.toThrow();
    expect(build(false)).toThrow(
      /AwsSolutions-IAM5\[Resource::Producer:ExportsOutputFnGetAttArchiveBucket\w+\/events\/\*\]/,
    );
  });

  it('fails synth when an IAM5 acknowledgement names another wildcard resource than the one granted', () => {
    const build = (acknowledged: string) => {
      const app = newApp();
      const stack = new Stack(app, 'Wildcards');
      const arn = (path: string) =>
        stack.formatArn({ service: 'execute-api', resource: 'api123', resourceName: `dev/GET${path}` });
      const policy = new iam.ManagedPolicy(stack, 'Policy', {
        statements: [
          new iam.PolicyStatement({ actions: ['execute-api:Invoke'], resources: [arn('/v1/events/*')] }),
        ],
      });
      acknowledgeWildcardResources(
        policy,
        [arn(acknowledged)],
        'A reason long enough to explain why this wildcard is fine.',
      );
      applyNagChecks(app);
      return () => app.synth();
    };
    expect(build('/v1/events/*')).not.toThrow();
    expect(build('/v1/logs/*')).toThrow(
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:api123/dev/GET/v1/events/*]',
    );
  });
});
