/** A one-line progress display on a TTY for work that lasts over a second; silent otherwise. */
// Work shorter than this shows no progress at all; QCAP_PROGRESS_DELAY_MS overrides it (tests use 0).
const delayMs = (): number => {
  const v = Number(process.env.QCAP_PROGRESS_DELAY_MS);
  return Number.isFinite(v) && v >= 0 ? v : 1000;
};
const EVERY_MS = 100;

export interface Progress {
  add(bytes: number): void;
  done(): void;
}

const silent: Progress = { add() {}, done() {} };

function human(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return `${n.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

/** Whether `progress(…, enabled)` draws anything: callers skip work that only feeds the bar. */
export const showsProgress = (enabled: boolean): boolean => enabled && process.stderr.isTTY === true;

export function progress(label: string, total: number, enabled: boolean): Progress {
  const out = process.stderr;
  if (!showsProgress(enabled)) return silent;
  const start = Date.now();
  const delay = delayMs();
  let seen = 0;
  let last = 0;
  let shown = false;
  const draw = () => {
    const secs = (Date.now() - start) / 1000;
    const pct = total > 0 ? Math.min(100, (100 * seen) / total) : 100;
    const width = 24;
    const fill = Math.round((pct / 100) * width);
    const bar = "#".repeat(fill) + "-".repeat(width - fill);
    out.write(
      `\r${label} [${bar}] ${pct.toFixed(0).padStart(3)}% ${human(seen)}/${human(total)} ${human(seen / Math.max(secs, 0.001))}/s `,
    );
    shown = true;
  };
  return {
    add(bytes) {
      seen += bytes;
      const now = Date.now();
      if (now - start >= delay && now - last >= EVERY_MS) {
        last = now;
        draw();
      }
    },
    done() {
      if (shown) {
        draw();
        out.write("\n");
      }
    },
  };
}
