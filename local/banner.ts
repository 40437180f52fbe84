import { randomUUID } from 'node:crypto';
import { SANDBOX_FILE, type Sandbox } from './sandbox.ts';

/** A valid AuditEventInput (DESIGN.md) to paste into curl. */
export function sampleEvent() {
  return {
    id: randomUUID(),
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    action: 'deployment.apply',
    category: 'deployment',
    outcome: 'success',
    actor: { type: 'user', id: 'alice@example.com' },
    resources: [{ type: 'aws.cloudformation.stack', id: 'payments-prod' }],
    source: { system: 'github-actions' },
  };
}

/** What `npm start` prints once the sandbox serves: endpoints, credentials, commands to paste. */
export function banner(sandbox: Sandbox): string {
  const { writer, reader, auditor } = sandbox.credentials;
  const body = JSON.stringify({ events: [sampleEvent()] });
  const sigv4 = `--aws-sigv4 "aws:amz:${sandbox.region}:execute-api"`;
  return `
Audit trail sandbox is running (tenant "${sandbox.tenant}", region ${sandbox.region}${sandbox.persist ? ', persisted' : ', in memory'})

  API        ${sandbox.endpoint}   (SigV4, service execute-api)
  DynamoDB   ${sandbox.dynamodb.endpoint}   table ${sandbox.dynamodb.table}
  S3         ${sandbox.s3.endpoint}   bucket ${sandbox.s3.bucket}
  Settings   ${sandbox.dataDir}/${SANDBOX_FILE}

Credentials (local only):
  writer   ${writer.accessKeyId}  ${writer.secretAccessKey}
  reader   ${reader.accessKeyId}  ${reader.secretAccessKey}
  auditor  ${auditor.accessKeyId}  ${auditor.secretAccessKey}

Record an event:
  curl ${sigv4} --user ${writer.accessKeyId}:${writer.secretAccessKey} \\
    -H 'content-type: application/json' \\
    -d '${body}' \\
    ${sandbox.endpoint}/v1/events

Read events back:
  curl ${sigv4} --user ${reader.accessKeyId}:${reader.secretAccessKey} ${sandbox.endpoint}/v1/events

Try the CLI:
  npx audit-trail send --sandbox events.jsonl
  npx audit-trail verify --sandbox

Stream consumers' dead letters: ${sandbox.deadLetterFile}
Press Ctrl-C to stop.
`;
}
