/** Go-style durations as the CRDs write them: "90s", "10m", "1h30m", "1.5h", "500ms". */
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(text: string): number {
  if (!/^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/.test(text)) throw new Error(`invalid duration "${text}"`);
  let total = 0;
  for (const m of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g)) {
    total += Number(m[1]) * (UNITS[m[2] as string] as number);
  }
  return Math.round(total);
}
