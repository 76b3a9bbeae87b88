/** Byte sinks: where a capsule is written. The Node file sink is in `node/sink.ts`. */

export interface Sink {
  /**
   * Appends `chunk`. Await each call before the next; the sink does not keep `chunk` after the
   * returned promise settles, so the caller may reuse its buffer.
   */
  write(chunk: Uint8Array): Promise<void>;
  /** Flushes and commits everything written. */
  close(): Promise<void>;
  /** Discards everything written (a file sink removes its temporary file). Safe to call twice. */
  abort(): Promise<void>;
  readonly bytesWritten: number;
  /**
   * Optional (local files): lets `fill` write the next `length` bytes itself, with positioned writes
   * to `fd` from `position` on (e.g. from native threads), as if they had been passed to `write`.
   * Nothing else is written until `fill` settles; a rejection fails the sink.
   */
  writeAt?(length: number, fill: (fd: number, position: number) => Promise<void>): Promise<void>;
}

export interface MemorySink extends Sink {
  /** Everything written, once `close()` has resolved. */
  bytes(): Uint8Array;
}

/** A sink collecting the bytes in memory, in one growing buffer. */
export function memorySink(): MemorySink {
  let buf = new Uint8Array(64 * 1024);
  let length = 0;
  let state: "open" | "closed" | "aborted" = "open";
  return {
    get bytesWritten() {
      return length;
    },
    async write(chunk) {
      if (state !== "open") throw new Error(`write to a ${state} sink`);
      if (length + chunk.length > buf.length) {
        const grown = new Uint8Array(Math.max(length + chunk.length, buf.length * 2));
        grown.set(buf.subarray(0, length));
        buf = grown;
      }
      buf.set(chunk, length);
      length += chunk.length;
    },
    async close() {
      if (state === "aborted") throw new Error("close of an aborted sink");
      state = "closed";
    },
    async abort() {
      if (state === "closed") return;
      state = "aborted";
      buf = new Uint8Array(0);
      length = 0;
    },
    bytes() {
      if (state !== "closed") throw new Error("memorySink.bytes() before close()");
      return buf.subarray(0, length);
    },
  };
}
