import type { Io } from '../../cli/io.ts';
import { run } from '../../cli/main.ts';

/** Runs the whole CLI with `argv`, no stdin, and the given working directory and environment. */
export async function runCli(
  argv: readonly string[],
  where: { readonly cwd: string; readonly env?: Record<string, string> },
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    stdin: (async function* () {})(),
    env: where.env ?? {},
    cwd: where.cwd,
  };
  const code = await run(argv, io);
  return { code, stdout, stderr };
}
