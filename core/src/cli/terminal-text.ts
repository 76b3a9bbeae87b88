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

// C0 controls but tab, LF and CR; DEL; C1 controls.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

const isPlainText = (s: string): boolean => !CONTROL.test(s);
