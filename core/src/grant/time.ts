/** RFC 3339 times and short durations, as grants and revocation lists write them (SPEC §11.2). */
import { fail } from "../errors.js";

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Parses an RFC 3339 date-time (`T` and `Z` uppercase, seconds required, no leap second) into
 * milliseconds since the epoch; undefined for anything else.
 */
export function parseRfc3339(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return undefined;
  const last = new Date(0);
  last.setUTCFullYear(y, mo, 0); // day 0 of the next month: the last day of this one
  if (d > last.getUTCDate()) return undefined;
  let offset = 0;
  const zone = m[8] as string;
  if (zone !== "Z") {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 23 || om > 59) return undefined;
    offset = (zone[0] === "-" ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  const frac = m[7] ? Math.floor(Number(`0${m[7]}`) * 1000) : 0;
  const utc = new Date(0);
  utc.setUTCFullYear(y, mo - 1, d);
  utc.setUTCHours(h, mi, s, frac);
  return utc.getTime() - offset;
}

/** `YYYY-MM-DDTHH:MM:SSZ` (whole seconds, UTC): the only form qcap writes. */
export function formatRfc3339(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError("invalid time");
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** A duration like `90m`, `12h`, `30d`, `2w` in milliseconds; undefined for anything else. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d{1,6})([smhdw])$/.exec(text);
  if (!m) return undefined;
  const ms = Number(m[1]) * (UNITS[m[2] as string] as number);
  return ms > 0 ? ms : undefined;
}

/** Latest time qcap writes: 9999-12-31T23:59:59Z. */
export const MAX_TIME = 253402300799000;

/** An absolute time from an RFC 3339 time or a duration counted from `now`; a usage error otherwise. */
export function timeOrDuration(text: string, now: number, flag: string): number {
  const d = parseDuration(text);
  const t = parseRfc3339(text) ?? (d !== undefined ? now + d : undefined);
  if (t === undefined || t < 0 || t > MAX_TIME) {
    return fail(
      "usage",
      `${flag} must be an RFC 3339 time (2030-01-31T12:00:00Z) or a duration (90m, 12h, 30d, 2w)`,
    );
  }
  return t;
}
