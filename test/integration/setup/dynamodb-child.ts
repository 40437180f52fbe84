// Run as a child process by sandbox-lifecycle.test.ts: starts DynamoDB Local, prints its port, then
// waits to be killed, so the test can check that Java dies with its parent.
import { startDynamoDbLocal } from '../../../local/services/dynamodb.ts';

const dynamo = await startDynamoDbLocal();
process.stdout.write(`${JSON.stringify({ port: dynamo.port, pid: dynamo.pid })}\n`);
setInterval(() => {}, 60_000);
