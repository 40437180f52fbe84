/** CPU time (user + system) of `work`, in microseconds. CPU, not wall time: the figure ignores waiting. */
export async function cpuMicros(work: () => Promise<void> | void): Promise<number> {
  const before = process.cpuUsage();
  await work();
  const used = process.cpuUsage(before);
  return used.user + used.system;
}

export const round = (value: number, digits = 3) => Number(value.toFixed(digits));
