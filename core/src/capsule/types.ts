/** What every reader of a capsule, of any format version, gives the capsule layer. */
import type { Stanza } from "../crypto/recipients.js";
import type { AEAD } from "../format/manifest.js";
import type { PlacedEntry } from "../zip/layout.js";

/** The signed header of a capsule, in the shape of the version 2 manifest whatever its version. */
export interface CapsuleHeader {
  qcap: 1 | 2;
  issuer: string;
  /** Number of content entries. */
  entries: number;
  root: string;
  seal: {
    aead: typeof AEAD;
    capsuleId: string;
    commitment: string;
    recipients: Stanza[];
    hiddenNames: boolean;
  } | null;
}

/** One content entry, located and described by signed data. */
export interface CapsuleEntry {
  /** Its ZIP name. */
  name: string;
  /** Plaintext size. */
  size: number;
  mode: number;
  /** Top of its chunk tree. */
  digest: Uint8Array;
  /** Stored size and chunk size. */
  stored: number;
  chunkSize: number;
  placed: PlacedEntry;
  /** Its chunk tree entry, when it has more than one chunk. */
  index: PlacedEntry | null;
  /** Its real name sealed (hidden names of version 2), else empty. */
  sealedName: Uint8Array;
}

/** Reads the entry index of one format version. */
export interface EntryIndex {
  /** The entry with ZIP name `name`, or null. Reads only what leads to it. */
  lookup(name: string): Promise<CapsuleEntry | null>;
  /** Every content entry, in file order. */
  entries(): AsyncGenerator<CapsuleEntry>;
  /**
   * Checks the whole archive outside entry data against the signed index, streaming, and calls
   * `checkEntry` for every entry in file order to check its bytes.
   */
  verify(checkEntry: (e: CapsuleEntry) => Promise<void>): Promise<void>;
  /** Real names of payload entries by ZIP name; with hidden names and no key, the ZIP names. */
  realNames(masterKey?: Uint8Array): Promise<Map<string, string>>;
  /** Whether reads check each entry's data descriptor (version 1 readers did). */
  readonly checksDescriptors: boolean;
}
