import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BuildOptions, build } from 'esbuild';

/** The options the CDK AuditFunction gives esbuild (lib/constructs/audit-function.ts), for one entry. */
const LAMBDA_BUILD: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  mainFields: ['module', 'main'],
  minify: true,
  banner: {
    js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
  },
  logLevel: 'silent',
};

/**
 * Size of the minified ingest bundle, and its cold module-load time against the same code loaded unbundled
 * (our code bundled, every package resolved from node_modules file by file, as a function would load
 * without bundling). Load times come from fresh Node processes, alternated and repeated; their ratio is
 * what is reported, since absolute times depend on the machine.
 */
export async function bundleFigures(entry = 'lambdas/handlers/ingest.ts') {
  const dir = mkdtempSync(join(tmpdir(), 'audit-bench-bundle-'));
  const bundled = join(dir, 'bundled.mjs');
  const unbundled = join(process.cwd(), 'bench', '.unbundled-ingest.mjs');
  await build({ ...LAMBDA_BUILD, entryPoints: [entry], outfile: bundled });
  await build({
    ...LAMBDA_BUILD,
    minify: false,
    packages: 'external',
    entryPoints: [entry],
    outfile: unbundled,
  });
  const env = {
    ...process.env,
    LEDGER_TABLE_NAME: 'bench',
    SIGNING_KEY_ID: 'alias/bench',
    SIGNING_ALGORITHM: 'ECDSA_SHA_256',
    DEPLOYMENT_ORIGIN: 'audit.example.com/bench',
    TENANTS_CONFIG: JSON.stringify({
      tenants: [{ name: 'bench', writers: ['arn:aws:iam::111111111111:role/w'] }],
    }),
    AWS_REGION: 'eu-west-1',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const loader = join(dir, 'load.mjs');
  writeFileSync(
    loader,
    'const t = process.hrtime.bigint(); await import(process.argv[2]); console.log(Number(process.hrtime.bigint() - t) / 1e6);',
  );
  const loadMs = (file: string) =>
    Number(execFileSync(process.execPath, [loader, file], { env, encoding: 'utf8' }).trim());
  const bundledMs: number[] = [];
  const unbundledMs: number[] = [];
  for (let i = 0; i < 9; i++) {
    bundledMs.push(loadMs(bundled));
    unbundledMs.push(loadMs(unbundled));
  }
  const bundleBytes = statSync(bundled).size;
  rmSync(unbundled);
  rmSync(dir, { recursive: true });
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  return {
    ingestBundleBytes: bundleBytes,
    bundleLoadMs: median(bundledMs),
    unbundledLoadMs: median(unbundledMs),
    bundleLoadVsUnbundled: median(bundledMs) / median(unbundledMs),
  };
}
