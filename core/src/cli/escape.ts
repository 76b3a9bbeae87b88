/**
 * Text for a terminal from strings a capsule, grant or list may carry (names, caveats, reasons): a
 * control character, line or paragraph separator, format character (bidi overrides, zero-width
 * marks), surrogate, private-use or unassigned code point could move the cursor, recolour or reorder
 * what follows, so each is shown as an escape (`\x1b`, `\u2028`, `\u{e0001}`). A `\` stays as it is
 * (names and JSON-quoted messages keep their look): text resembling an escape is only text. JSON
 * output does not go through here: it stays exact JSON.
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Co}\p{Cn}]/gu;

function code(ch: string): string {
  const cp = ch.codePointAt(0) as number;
  if (cp < 0x100) return `\\x${cp.toString(16).padStart(2, "0")}`;
  if (cp < 0x10000) return `\\u${cp.toString(16).padStart(4, "0")}`;
  return `\\u{${cp.toString(16)}}`;
}

/** `s` with every character that is not plainly printable shown as an escape. */
export function escapeText(s: string): string {
  return s.replace(UNSAFE, code);
}
