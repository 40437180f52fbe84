import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { StageConfig } from '../config/schema.ts';
import { LedgerTable } from '../constructs/ledger-table.ts';
import { SigningKey } from '../constructs/signing-key.ts';

export interface StatefulStackProps extends StackProps {
  readonly stageName: string;
  readonly config: StageConfig;
}

/**
 * Everything that holds data or identity and must outlive any redeploy: the checkpoint signing key and
 * the ledger table (issue 4 adds the archive bucket and Athena results bucket here). Every resource is
 * retained on deletion and the stack has termination protection.
 */
export class StatefulStack extends Stack {
  readonly signingKey: SigningKey;
  readonly ledger: LedgerTable;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, { terminationProtection: true, ...props });
    const { stageName, config } = props;

    this.signingKey = new SigningKey(this, 'SigningKey', {
      keySpec: config.signingKeySpec,
      aliasName: `alias/audit-trail/${stageName}/checkpoint-signing`,
    });
    this.ledger = new LedgerTable(this, 'Ledger');

    new CfnOutput(this, 'SigningKeyArn', {
      value: this.signingKey.keyArn,
      description: 'Checkpoint signing key',
    });
    new CfnOutput(this, 'SigningKeyAlias', { value: this.signingKey.alias.aliasName });
    new CfnOutput(this, 'LedgerTableName', { value: this.ledger.tableName });
  }
}
