/**
 * A progress bar on standard error, for long work (verifying or exporting a large audit log).
 * Drawn only when standard error is a terminal, so pipes and logs stay clean; SIGNER_PROGRESS=1
 * forces it on (tests, `script` recordings), SIGNER_PROGRESS=0 off. Redraws at most every
 * REDRAW_MS, so reporting often costs next to nothing.
 */

export interface Progress {
  /** `done` out of the total so far. */
  update(done: number): void;
  /** Draws the final state and ends the line. */
  finish(): void;
}

export interface ProgressOutput {
  isTTY?: boolean;
  write(text: string): unknown;
}

const REDRAW_MS = 100;
const BAR_WIDTH = 30;
const NO_PROGRESS: Progress = { update: () => {}, finish: () => {} };

/** Whether to draw: SIGNER_PROGRESS=1|0 decides, otherwise whether the output is a terminal. */
export function progressEnabled(output: ProgressOutput = process.stderr, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.SIGNER_PROGRESS === '1') return true;
  if (env.SIGNER_PROGRESS === '0') return false;
  return output.isTTY === true;
}

export function startProgress(
  label: string,
  total: number,
  options: { output?: ProgressOutput; env?: NodeJS.ProcessEnv; now?: () => number } = {},
): Progress {
  const output = options.output ?? process.stderr;
  if (!progressEnabled(output, options.env)) return NO_PROGRESS;
  const now = options.now ?? Date.now;
  const started = now();
  let lastDrawn = -Infinity;
  let lastLength = 0;
  let current = 0;
  let finished = false;
  const draw = () => {
    lastDrawn = now();
    const line = renderProgress(label, current, total, lastDrawn - started);
    // Spaces cover what is left of a longer previous line.
    output.write(`\r${line.padEnd(lastLength)}`);
    lastLength = line.length;
  };
  return {
    update(done) {
      current = done;
      if (!finished && now() - lastDrawn >= REDRAW_MS) draw();
    },
    finish() {
      if (finished) return;
      finished = true;
      draw();
      output.write('\n');
    },
  };
}

/** One line: label, bar, percent, counts, rate and time left. */
export function renderProgress(label: string, done: number, total: number, elapsedMs: number): string {
  const fraction = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = '#'.repeat(filled) + '-'.repeat(BAR_WIDTH - filled);
  const rate = elapsedMs > 0 ? (done / elapsedMs) * 1000 : 0;
  const left = rate > 0 && done < total ? `, ${duration((total - done) / rate)} left` : '';
  const count = (n: number) => n.toLocaleString('en-US');
  return `${label} [${bar}] ${String(Math.floor(fraction * 100)).padStart(3)}% ${count(done)}/${count(total)} (${count(Math.round(rate))}/s${left})`;
}

function duration(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}
