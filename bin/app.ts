import { App } from 'aws-cdk-lib';
import { addAuditTrail } from '../lib/audit-trail.ts';
import { ConfigError, type LoadedStage, loadStageConfig } from '../lib/config/load.ts';
import { STAGES } from '../lib/config/stages/index.ts';
import { applyNagChecks } from '../lib/nag.ts';

const app = new App();

let stage: LoadedStage;
try {
  stage = loadStageConfig(app.node.tryGetContext('stage'), STAGES);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}

addAuditTrail(app, stage);
applyNagChecks(app);
