import { parseArgs } from 'node:util';
import { banner } from './banner.ts';
import { DEFAULT_DATA_DIR, startSandbox } from './sandbox.ts';
import { JavaNotFoundError } from './services/dynamodb.ts';

/** `npm start`: runs the whole pipeline locally until Ctrl-C. */

const USAGE = `Usage: npm start -- [--persist] [--port N] [--data-dir DIR]

  --persist        keep the ledger, archive, signing key and stream positions in the data directory
  --port N         HTTP port on 127.0.0.1 (default: $PORT, else 4000; 0 = any free port)
  --data-dir DIR   where sandbox.json (and persisted data) live (default: ${DEFAULT_DATA_DIR})
`;

function parseOptions(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      persist: { type: 'boolean', default: false },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port < 65536)) {
    throw new UsageError(`--port must be a port number, got '${values.port}'`);
  }
  return { persist: values.persist, port, dataDir: values['data-dir'], help: values.help };
}

async function main(): Promise<void> {
  // The project pins Node 20 on purpose; the SDK's "Node 22 from 2027" notice would only bury the banner.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const options = parseOptions(process.argv.slice(2));
  if (options.help) {
    process.stdout.write(USAGE);
    return;
  }
  const sandbox = await startSandbox(options);
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return; // a second Ctrl-C while stopping: the stop is already under way
    stopping = true;
    process.stdout.write(`\n${signal}: stopping the sandbox...\n`);
    sandbox.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  process.on('SIGHUP', shutdown);
  process.stdout.write(banner(sandbox));
}

class UsageError extends Error {}

main().catch((error: unknown) => {
  const code = (error as { code?: string }).code ?? '';
  if (error instanceof UsageError || code.startsWith('ERR_PARSE_ARGS')) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (error instanceof JavaNotFoundError) console.error(`\n${error.message}\n`);
  else console.error(error);
  process.exit(1);
});
