import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { LIMITS } from '#core/schema.ts';
import { archiveFigures } from './archive-figures.ts';
import { bundleFigures } from './bundle-figures.ts';
import { ASSUMPTIONS, costPerMillionEvents, PRICES } from './cost.ts';
import { countSignsAndWrites, ingestCpuFigures } from './ingest-figures.ts';
import { round } from './measure.ts';
import { sandboxFigures } from './sandbox-figures.ts';

/**
 * `npm run bench`: every figure of docs/BENCHMARKS.md, printed as a table and written to
 * bench/results.json. Timings are CPU-time ratios measured in one process; counts are exact.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

type Target = { max: number } | { min: number } | { equals: number };
interface Figure {
  readonly value: number | Record<string, number>;
  readonly target?: Target;
  readonly unit?: string;
}

const VERIFY_EVENTS = Number(process.env.BENCH_VERIFY_EVENTS ?? 100_000);
const SANDBOX_EVENTS = Number(process.env.BENCH_SANDBOX_EVENTS ?? 3_000);

const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
  process.stderr.write(`bench: ${name}...\n`);
  return work();
};

const cpu = await step('CPU per event: P-256 signature, core, handler + SDK (alternating rounds)', () =>
  ingestCpuFigures(),
);
// After the CPU rounds: the fakes below keep thousands of items on the heap, which would tax those rounds.
const counts = await step(
  'KMS signs and DynamoDB write units through the ingest handler',
  countSignsAndWrites,
);
const signMicros = cpu.p256SignMicros;
const coreMicros = cpu.coreMicrosPerEvent;
const sdkMicros = cpu.sdkMicrosPerEvent;
const archive = await step(`archiving and verifying ${VERIFY_EVENTS} events`, () =>
  archiveFigures(VERIFY_EVENTS),
);
const bundle = await step('ingest bundle', () => bundleFigures());
const sandbox = await step(`${SANDBOX_EVENTS} events end to end through the sandbox`, () =>
  sandboxFigures(SANDBOX_EVENTS),
);

const signsPerEvent = (batch: number) => Math.ceil(1000 / batch) / 1000;
const costInputs = (batch: number, keySpec: 'ECC_NIST_P256' | 'RSA_2048') => ({
  batch,
  signsPerEvent: signsPerEvent(batch),
  transactionWriteUnitsPerEvent: counts.dynamoWriteUnitsPerEvent,
  indexWriteUnitsPerEvent: counts.dynamoGsiWriteUnitsPerEvent,
  ingestCpuMicrosPerEvent: sdkMicros,
  s3PutsPer1000Events: archive.s3PutsPer1000ArchivedEvents,
  keySpec,
});

const figures: Record<string, Figure> = {
  kmsSignCallsPer1000Events: {
    value: counts.kmsSignCallsPer1000Events,
    target: { max: 11 },
    unit: 'calls (batchMax)',
  },
  dynamoWriteUnitsPerEvent: {
    value: round(counts.dynamoWriteUnitsPerEvent),
    target: { max: 4.1 },
    unit: 'WRU (table, transactional)',
  },
  dynamoIndexWriteUnitsPerEvent: {
    value: round(counts.dynamoGsiWriteUnitsPerEvent),
    unit: 'WRU (3 GSIs, keys + filter attributes)',
  },
  s3PutsPer1000ArchivedEvents: {
    value: round(archive.s3PutsPer1000ArchivedEvents),
    target: { max: 10 },
    unit: 'PUTs',
  },
  ingestCpuPerEventVsP256Sign: { value: round(cpu.coreVsSign), target: { max: 2.5 }, unit: 'ratio' },
  ingestCpuPerEventWithSdkVsCore: { value: round(cpu.sdkVsCore), target: { max: 3 }, unit: 'ratio' },
  verifyEventsPerSecond: {
    value: Math.round(archive.verifyEventsPerSecond),
    target: { min: 200_000 },
    unit: `events/s (${archive.verifiedEvents} events, one core, median of ${archive.verifyRounds} runs)`,
  },
  verifyEventsPerSecondColdAndBest: {
    value: {
      cold: Math.round(archive.verifyEventsPerSecondCold),
      best: Math.round(archive.verifyEventsPerSecondBest),
    },
    unit: 'events/s (first run, fastest run)',
  },
  verifyCpuVsSha256: {
    value: round(archive.verifyCpuVsSha256, 2),
    unit: 'ratio (whole verification / one SHA-256 of 1 KB per event)',
  },
  ingestBundleBytes: {
    value: bundle.ingestBundleBytes,
    target: { max: 1_200_000 },
    unit: 'bytes (minified)',
  },
  bundleLoadVsUnbundled: { value: round(bundle.bundleLoadVsUnbundled), target: { max: 0.7 }, unit: 'ratio' },
  sandboxEventsPerSecond: {
    value: round(sandbox.sandboxEventsPerSecond, 1),
    unit: `events/s (${sandbox.sandboxEventsSent} events, send -> table -> archive)`,
  },
  sandboxEventsLost: { value: sandbox.sandboxEventsLost, target: { equals: 0 }, unit: 'events' },
  costPerMillionEvents: {
    value: {
      batch1Ecc: costPerMillionEvents(costInputs(1, 'ECC_NIST_P256')).total!,
      batchMaxEcc: costPerMillionEvents(costInputs(LIMITS.maxBatchEvents, 'ECC_NIST_P256')).total!,
      batch1Rsa: costPerMillionEvents(costInputs(1, 'RSA_2048')).total!,
      batchMaxRsa: costPerMillionEvents(costInputs(LIMITS.maxBatchEvents, 'RSA_2048')).total!,
    },
    unit: `USD per million 1 KB events (${PRICES.region}, prices of ${PRICES.date})`,
  },
};

function verdict(figure: Figure): string {
  if (!figure.target) return '';
  const value = typeof figure.value === 'number' ? figure.value : (figure.value.batchMax ?? Number.NaN);
  if ('max' in figure.target)
    return value <= figure.target.max
      ? `ok (target <= ${figure.target.max})`
      : `MISSED (target <= ${figure.target.max})`;
  if ('min' in figure.target)
    return value >= figure.target.min
      ? `ok (target >= ${figure.target.min})`
      : `MISSED (target >= ${figure.target.min})`;
  return value === figure.target.equals
    ? `ok (target ${figure.target.equals})`
    : `MISSED (target ${figure.target.equals})`;
}

const show = (value: Figure['value']) =>
  typeof value === 'number'
    ? String(value)
    : Object.entries(value)
        .map(([key, v]) => `${key}=${v}`)
        .join(' ');
const rows = Object.entries(figures).map(([name, figure]) => [
  name,
  show(figure.value),
  figure.unit ?? '',
  verdict(figure),
]);
const widths = [0, 1, 2].map((column) => Math.max(...rows.map((row) => row[column]!.length)));
for (const row of rows)
  console.log(row.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join('  '));

const results = {
  date: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGb: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    platform: process.platform,
  },
  figures: Object.fromEntries(Object.entries(figures).map(([name, figure]) => [name, figure.value])),
  details: {
    p256SignCpuMicros: round(signMicros),
    coreCpuMicrosPerEvent: round(coreMicros),
    handlerWithSdkCpuMicrosPerEvent: round(sdkMicros),
    bundleLoadMs: round(bundle.bundleLoadMs, 1),
    unbundledLoadMs: round(bundle.unbundledLoadMs, 1),
    sandboxIngestEventsPerSecond: round(sandbox.sandboxIngestEventsPerSecond, 1),
    costBreakdown: {
      batch1Ecc: costPerMillionEvents(costInputs(1, 'ECC_NIST_P256')),
      batchMaxEcc: costPerMillionEvents(costInputs(LIMITS.maxBatchEvents, 'ECC_NIST_P256')),
    },
    prices: PRICES,
    assumptions: ASSUMPTIONS,
  },
  targets: Object.fromEntries(
    Object.entries(figures)
      .filter(([, f]) => f.target)
      .map(([name, f]) => [name, f.target]),
  ),
};
writeFileSync(new URL('./results.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
refreshDoc(rows);
console.log('\nwrote bench/results.json and the results in docs/BENCHMARKS.md');

/** Replaces the latest-results block of docs/BENCHMARKS.md with this run's table. */
function refreshDoc(table: string[][]): void {
  const doc = new URL('../docs/BENCHMARKS.md', import.meta.url);
  const text = readFileSync(doc, 'utf8');
  const block = [
    '<!-- bench:results:start -->',
    `Latest run: ${results.date.slice(0, 10)}, ${results.machine.cpus} × ${results.machine.cpuModel}, Node ${results.machine.node}.`,
    '',
    '| Figure | Value | Unit | Against target |',
    '| --- | --- | --- | --- |',
    ...table.map((row) => `| \`${row[0]}\` | ${row[1]} | ${row[2]} | ${row[3] || '—'} |`),
    '<!-- bench:results:end -->',
  ].join('\n');
  writeFileSync(doc, text.replace(/<!-- bench:results:start -->[\s\S]*<!-- bench:results:end -->/, block));
}
