import { hash } from 'node:crypto';
import { DirectoryArchiveStore } from '#adapters/directory-archive.ts';
import { verifyArchive } from '../cli/archive/verify-archive.ts';
import { cpuMicros } from './measure.ts';

/**
 * Run by archive-figures.ts in a process of its own, as an auditor runs `audit-trail verify --archive DIR`:
 * verifies the archive in DIR ROUNDS times and prints, as JSON, the CPU of each run, and of one bare SHA-256
 * of a 1 KB record per event timed just before it (the reference the ratio is taken against).
 */
const [dir, events, rounds] = process.argv.slice(2);
if (!dir || !events || !rounds) throw new Error('usage: verify-rounds.ts ARCHIVE_DIR EVENTS ROUNDS');
const record = Buffer.alloc(1024, 0x61);
const result = { leaves: 0, verifyMicros: [] as number[], hashMicros: [] as number[] };
for (let round = 0; round < Number(rounds); round++) {
  result.hashMicros.push(
    await cpuMicros(() => {
      for (let i = 0; i < Number(events); i++) hash('sha256', record, 'hex');
    }),
  );
  result.verifyMicros.push(
    await cpuMicros(async () => {
      const report = await verifyArchive(new DirectoryArchiveStore(dir));
      if (!report.ok) throw new Error(`bench archive does not verify: ${JSON.stringify(report.failure)}`);
      result.leaves = report.totals.leaves;
    }),
  );
}
console.log(JSON.stringify(result));
