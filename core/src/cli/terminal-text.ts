/**
 * Whether bytes are safe to show on a terminal: valid UTF-8 without control characters other than
 * tab, newline and carriage return. Binary or escape sequences written to a terminal garble it, and
 * some sequences make terminals act.
 */
export class TerminalTextCheck {
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });

  /** False as soon as a chunk (decoded across chunk boundaries) is not terminal-safe text. */
  push(chunk: Uint8Array): boolean {
    try {
      return isPlainText(this.decoder.decode(chunk, { stream: true }));
    } catch {
      return false;
    }
  }

  /** False when the bytes end inside a UTF-8 sequence. */
  end(): boolean {
    try {
      this.decoder.decode();
      return true;
    } catch {
      return false;
    }
  }
}

/** No C0 control but tab, LF and CR; no DEL; no C1 control. */
function isPlainText(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || (c >= 0x7f && c <= 0x9f)) return false;
  }
  return true;
}
