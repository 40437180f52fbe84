/** CPU time (user + system) of `work`, in microseconds. CPU, not wall time: the figure ignores waiting. */
export async function cpuMicros(work: () => Promise<void> | void): Promise<number> {
  const before = process.cpuUsage();
  await work();
  const used = process.cpuUsage(before);
  return used.user + used.system;
}

/** Median of `rounds` measurements after one warm-up round: robust to a noisy neighbour. */
export async function medianCpuMicros(rounds: number, work: () => Promise<void> | void): Promise<number> {
  await work();
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) samples.push(await cpuMicros(work));
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

export const round = (value: number, digits = 3) => Number(value.toFixed(digits));
