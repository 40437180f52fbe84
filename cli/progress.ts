import type { OutStream } from './io.ts';

export interface Progress {
  /** Sets the count done so far (and the total, if it changed). */
  update(done: number, total?: number): void;
  /** Clears the bar so the summary starts on a clean line. */
  done(): void;
}

const NOOP: Progress = { update: () => undefined, done: () => undefined };
const REDRAW_MS = 100;

/** A one-line progress bar on stderr, only when stderr is a terminal (never in logs or pipes). */
export function progressBar(
  stream: OutStream,
  label: string,
  total: number,
  now: () => number = Date.now,
): Progress {
  if (!stream.isTTY) return NOOP;
  let lastDraw = 0;
  let current = 0;
  let goal = total;
  const draw = () => {
    const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - label.length - 30));
    const ratio = goal > 0 ? Math.min(1, current / goal) : 1;
    const filled = Math.round(ratio * width);
    stream.write(
      `\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${current}/${goal} ${Math.floor(ratio * 100)}%`,
    );
  };
  return {
    update(done, newTotal) {
      current = done;
      if (newTotal !== undefined) goal = newTotal;
      if (now() - lastDraw < REDRAW_MS) return;
      lastDraw = now();
      draw();
    },
    done() {
      stream.write('\r\x1b[2K');
    },
  };
}
