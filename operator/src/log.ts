/**
 * Structured JSON logs, one object per line on stdout. Callers pass only names, ids, digests and
 * messages: never key material, tokens or Secret data. As a second line of defence, fields whose
 * name suggests a secret are dropped and secret-looking strings are masked.
 */
export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

const SECRET_FIELD = /secret|token|password|passphrase|credential|identity|seed|privat/i;
const SECRET_VALUE =
  /AGE-SECRET-KEY-1[0-9A-Z]+|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g;

export function redact(text: string): string {
  return text.replace(SECRET_VALUE, "[redacted]");
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

function clean(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    if (SECRET_FIELD.test(k) && !/Ref$|Name$|Id$/.test(k)) continue;
    out[k] = typeof v === "string" ? redact(v) : v instanceof Error ? redact(v.message) : v;
  }
  return out;
}

export function createLogger(
  level: Level = "info",
  base: Record<string, unknown> = {},
  write: (line: string) => void = (l) => process.stdout.write(l),
): Logger {
  const emit = (lvl: Level, msg: string, fields: Record<string, unknown> = {}) => {
    if (ORDER[lvl] < ORDER[level]) return;
    const rec = {
      ts: new Date().toISOString(),
      level: lvl,
      msg: redact(msg),
      ...clean(base),
      ...clean(fields),
    };
    write(`${JSON.stringify(rec)}\n`);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger(level, { ...base, ...fields }, write),
  };
}

/** A one-line message for any thrown value (no stack). */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return redact(err.message.split("\n")[0] ?? err.name);
  return redact(String(err));
}
