/**
 * Writing verified entries into folders, all or nothing (SPEC §7.4). Every file is written into a
 * private staging folder (mode 0700, made by `mkdtemp`) inside the output folder, or inside its
 * nearest existing ancestor when the output folder does not exist yet; only when every entry of
 * every output has been verified and decrypted is the staged tree moved into place: in one rename
 * when the output folder is new, else file by file. Names are resolved from folders held open
 * (`dir-handle-node.ts`) and symbolic links are never followed, so another user who can write into
 * the output folder cannot redirect a file outside it by swapping a folder for a link mid-run.
 */
import {
  constants as C,
  closeSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  type Stats,
  unlinkSync,
  writeSync,
} from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { basename, dirname, join, normalize, resolve } from "node:path";
import type { Capsule, CapsuleEntry } from "../capsule/capsule.js";
import { plainChunks } from "../capsule/read.js";
import { batchPlaintexts, isSmallEntry, type SmallBatch, SmallBatcher } from "../capsule/small-batches.js";
import type { EntryKeys } from "../capsule/unlock.js";
import { streamAad } from "../crypto/kdf.js";
import type { StreamKey } from "../engine/blocks.js";
import { type Engine, inlineEngine } from "../engine/engine.js";
import { openBatchNatively, opensSmallNatively } from "../engine/small-entries-native.js";
import { fail, QcapError } from "../errors.js";
import { type Dir, openDir, openDirAt } from "../io/dir-handle-node.js";
import { fsReason } from "./source.js";
import { forgetTemp, rememberTemp } from "./temp-files.js";

export interface ExtractItem {
  /** Entry name inside the capsule. */
  entry: string;
  /** Path relative to the output folder, `/`-separated, already validated. */
  path: string;
  mode: number;
  /** Its plaintext size, when known (for progress). */
  size?: number;
  /** The entry named `entry`, when the caller read it from the index already: saves finding it again. */
  found?: CapsuleEntry;
}

export interface ExtractOptions {
  keys?: EntryKeys;
  /** Replace files that already exist in the output folder (only at the final move). */
  force?: boolean;
  onProgress?: (bytes: number) => void;
  /**
   * Checks and decrypts large entries file to file with the native kernels (`Capsule.opensNatively`),
   * else a block at a time on the engine's worker threads. Default: the native kernels where loaded.
   */
  engine?: Engine;
}
/** Chunks are gathered into writes of this size: one write per 64 KiB chunk costs more than the copy. */
const WRITE_BUFFER = 1 << 20;

/** The STREAM key of a payload entry of a sealed capsule (null when the entry is stored plain). */
function streamKeyOf(capsule: Capsule, name: string, keys?: EntryKeys): StreamKey | null {
  if (!capsule.sealed || !name.startsWith("payload/")) return null;
  if (!keys) return fail("decrypt", "the capsule is sealed: an identity or passphrase is needed");
  const fileKey = keys.fileKey(name);
  if (!fileKey) return fail("unauthorized", `no key for ${name}`);
  return { fileKey, aad: streamAad(keys.capsuleId, name) };
}

/**
 * Synchronous writes: a 1 MiB write into the page cache takes well under a millisecond, less than a
 * round trip through the thread pool on a busy machine; checking and decryption meanwhile go on in
 * the block engine's threads.
 */
async function writeFully(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length; ) at += writeSync(fh.fd, bytes, at, bytes.length - at);
}

/** Writes the verified plaintext of `e` to `fh`. */
async function writeEntry(capsule: Capsule, e: CapsuleEntry, fh: FileHandle, options: ExtractOptions) {
  const entry = e.name;
  const engine = options.engine ?? inlineEngine;
  const large = e.stored >= engine.largeBytes;
  if (large && capsule.opensNatively(entry, engine)) {
    const key = streamKeyOf(capsule, entry, options.keys) as StreamKey;
    await capsule.openEntryNatively(entry, key, fh.fd, engine, options.onProgress);
    return;
  }
  const blocks = large ? engine.blocks() : undefined;
  if (blocks) {
    const key = streamKeyOf(capsule, entry, options.keys);
    for await (const block of capsule.entryBlocks(e, blocks, key ?? undefined)) {
      await writeFully(fh, block);
      options.onProgress?.(block.length);
    }
    return;
  }
  const buf = new Uint8Array(Math.min(WRITE_BUFFER, Math.max(1, e.size)));
  let n = 0;
  for await (const bytes of plainChunks(capsule, entry, options.keys)) {
    if (n + bytes.length > buf.length) {
      await writeFully(fh, buf.subarray(0, n));
      n = 0;
    }
    if (bytes.length >= buf.length) await writeFully(fh, bytes);
    else {
      buf.set(bytes, n);
      n += bytes.length;
    }
    options.onProgress?.(bytes.length);
  }
  await writeFully(fh, buf.subarray(0, n));
}

export interface ExtractTarget {
  /**
   * The items, best in file order (as `Capsule.entries` lists them). An async iterable is read
   * again for each pass and never held, so that millions of items cost no memory.
   */
  items: ExtractItem[] | AsyncIterable<ExtractItem>;
  /** The output folder; created (with its missing parents) only when everything has succeeded. */
  outDir: string;
}

const STAGING_PREFIX = ".qcap-open-";
const O_CREATE_NEW = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | null)?.code;

/** Runs a file system call; an errno error becomes a one-line "input" error naming `shown`. */
function fsCall<T>(shown: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof QcapError || typeof errno(e) !== "string") throw e;
    return fail("input", `cannot write ${shown}: ${fsReason(e)}`, e);
  }
}

/** `lstat` that answers null for a name that does not exist. */
function lstatOrNull(path: string, shown: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (e) {
    if (errno(e) === "ENOENT") return null;
    return fsCall(shown, () => {
      throw e;
    });
  }
}

const refuseLink = (shown: string): never =>
  fail("input", `refusing to write through the symbolic link ${shown}`);

/** Checks one existing name of a path before anything is written: no link, folders where needed. */
function checkExisting(st: Stats, shown: string, wantDir: boolean, force: boolean): void {
  if (st.isSymbolicLink()) refuseLink(shown);
  if (wantDir && !st.isDirectory()) fail("input", `cannot create folder ${shown}: a file is in the way`);
  if (!wantDir && st.isDirectory()) fail("input", `${shown} is a folder`);
  if (!wantDir && !force) fail("input", `${shown} already exists (use --force to replace it)`);
}

interface Plan {
  target: ExtractTarget;
  /** The output folder, or its nearest existing ancestor when it does not exist (held open). */
  base: Dir;
  /** Path of `base`, to remove the staging folder from a signal handler. */
  basePath: string;
  /** Components of the output folder below `base` that do not exist yet (empty when it exists). */
  missing: string[];
  stagingName?: string;
  staging?: Dir;
  tree?: Dir;
}

/** Opens the output folder (or its nearest existing ancestor) and refuses conflicts up front. */
async function plan(target: ExtractTarget, force: boolean): Promise<Plan> {
  const root = resolve(target.outDir);
  const missing: string[] = [];
  let at = root;
  let st = lstatOrNull(at, target.outDir);
  while (st === null && dirname(at) !== at) {
    missing.unshift(basename(at));
    at = dirname(at);
    st = lstatOrNull(at, at);
  }
  if (st === null) return fail("input", `cannot write to ${target.outDir}: no existing folder above it`);
  if (missing.length === 0 && st.isSymbolicLink()) refuseLink(target.outDir);
  if (!st.isDirectory() && !(missing.length > 0 && st.isSymbolicLink())) {
    fail(
      "input",
      missing.length === 0
        ? `${target.outDir} is not a folder`
        : `cannot create ${target.outDir}: ${at} is not a folder`,
    );
  }
  // The output folder itself is never followed as a link; the folders above it are the user's.
  const base =
    missing.length === 0
      ? fsCall(target.outDir, () => openDir(root, target.outDir))
      : fsCall(at, () => openDir(at, at, true));
  const p: Plan = { target, base, basePath: at, missing };
  if (missing.length > 0) return p;
  // Existing output folder: refuse links, files in the way and (without --force) existing files now.
  // Only the folders of the item before are remembered: items in index order share most of them.
  const folders: { rel: string; st: Stats | null }[] = [];
  const shownHead = shownPrefix(target.outDir);
  for await (const item of target.items) {
    checkPath(item.path);
    const parts = item.path.split("/");
    let rel = "";
    for (let i = 0; i < parts.length; i++) {
      rel = i === 0 ? (parts[0] as string) : `${rel}/${parts[i]}`;
      const wantDir = i < parts.length - 1;
      const known = wantDir ? folders[i] : undefined;
      let st: Stats | null;
      if (known?.rel === rel) st = known.st;
      else {
        st = lstatOrNull(base.at(rel), shownHead + rel);
        if (wantDir) {
          folders.length = i;
          folders.push({ rel, st });
        }
      }
      if (st === null) break;
      checkExisting(st, shownHead + rel, wantDir, force);
    }
  }
  return p;
}

/** Makes the private staging folder and, inside it, the tree that will be moved into place. */
function makeStaging(p: Plan): void {
  const shown = p.target.outDir;
  const name = basename(fsCall(shown, () => mkdtempSync(p.base.at(STAGING_PREFIX))));
  p.stagingName = name;
  rememberTemp(join(p.basePath, name));
  p.staging = fsCall(shown, () => openDirAt(p.base, name));
  const staging = p.staging;
  // Folders and files are created with full modes and the kernel applies the umask.
  fsCall(shown, () => mkdirSync(staging.at("tree"), 0o777));
  p.tree = fsCall(shown, () => openDirAt(staging, "tree"));
  const tree = p.tree;
  for (let i = 2; i <= p.missing.length; i++) {
    const rel = p.missing.slice(1, i).join("/");
    fsCall(p.target.outDir, () => mkdirSync(tree.at(rel), 0o777));
  }
}

/**
 * The capsule entry of every item: the one it carries, else items in file order (as
 * `Capsule.entries` lists them) are matched while the index is read once, page by page; any left
 * over are looked up one by one.
 */
async function* withEntries(
  capsule: Capsule,
  items: ExtractItem[] | AsyncIterable<ExtractItem>,
): AsyncGenerator<{ item: ExtractItem; e: CapsuleEntry }> {
  let entries: AsyncIterator<CapsuleEntry> | undefined;
  let more = true;
  try {
    for await (const item of items) {
      if (item.found) {
        yield { item, e: item.found };
        continue;
      }
      entries ??= capsule.entries()[Symbol.asyncIterator]();
      let found: CapsuleEntry | null = null;
      while (more && !found) {
        const r = await entries.next();
        if (r.done) more = false;
        else if (r.value.name === item.entry) found = r.value;
      }
      yield { item, e: found ?? (await capsule.entry(item.entry)) };
    }
  } finally {
    await entries?.return?.(undefined);
  }
}

/**
 * Writes every item of the plan into its staging tree. Small entries go in batches (natively when
 * the kernels are loaded, one read and synchronous writes each otherwise), the rest one by one.
 */
async function stageItems(capsule: Capsule, p: Plan, options: ExtractOptions): Promise<void> {
  const tree = p.tree as Dir;
  const prefix = p.missing.slice(1);
  const made = new Set<string>();
  const makeParents = (parts: string[], shown: string) => {
    for (let i = prefix.length + 1; i < parts.length; i++) {
      const rel = parts.slice(0, i).join("/");
      if (made.has(rel)) continue;
      fsCall(shown, () => {
        try {
          mkdirSync(tree.at(rel), 0o777);
        } catch (e) {
          if (errno(e) !== "EEXIST") throw e;
        }
      });
      made.add(rel);
    }
  };
  const engine = options.engine ?? inlineEngine;
  const native = opensSmallNatively(capsule, engine);
  const batcher = new SmallBatcher(capsule);
  // One native batch runs while the next is gathered; it is always awaited before the staging
  // folder can be removed.
  const inFlight: { batch: Promise<void> | null } = { batch: null };
  const settle = async () => {
    const r = inFlight.batch;
    inFlight.batch = null;
    await r;
  };
  const write = async (b: SmallBatch | null) => {
    if (!b) return;
    await settle();
    if (native) {
      const bytes = openBatchNatively(capsule, b, options.keys, tree.fd, engine).then((n) =>
        options.onProgress?.(n),
      );
      bytes.catch(() => {});
      inFlight.batch = bytes;
      return;
    }
    for await (const { job, plain } of batchPlaintexts(capsule, b, options.keys)) {
      const parts = job.path.split("/");
      makeParents(parts, job.shown);
      writeNewFile(tree.at(job.path), job.shown, job.mode, plain);
      options.onProgress?.(plain.length);
    }
  };
  try {
    const head = prefix.length > 0 ? `${prefix.join("/")}/` : "";
    const shownHead = shownPrefix(p.target.outDir);
    for await (const { item, e } of withEntries(capsule, p.target.items)) {
      checkPath(item.path);
      const shown = shownHead + item.path;
      const mode = item.mode & 0o111 ? 0o777 : 0o666;
      if (isSmallEntry(e)) {
        await write(batcher.add({ entry: e, path: head + item.path, shown, mode }));
        continue;
      }
      await write(batcher.take());
      await settle();
      const parts = [...prefix, ...item.path.split("/")];
      makeParents(parts, shown);
      let fh: FileHandle;
      try {
        fh = await open(tree.at(parts.join("/")), O_CREATE_NEW, mode);
      } catch (e) {
        return fsCall(shown, () => {
          throw e;
        });
      }
      try {
        await writeEntry(capsule, e, fh, options);
      } catch (e) {
        if (e instanceof QcapError || typeof errno(e) !== "string") throw e;
        return fail("input", `cannot write ${shown}: ${fsReason(e)}`, e);
      } finally {
        await fh.close();
      }
    }
    await write(batcher.take());
    await settle();
  } finally {
    await inFlight.batch?.catch(() => {});
  }
}

/** Creates the new file `path` (never through a link) holding `bytes`, with synchronous calls. */
function writeNewFile(path: string, shown: string, mode: number, bytes: Uint8Array): void {
  fsCall(shown, () => {
    const fd = openSync(path, O_CREATE_NEW, mode);
    try {
      for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
    } finally {
      closeSync(fd);
    }
  });
}

/**
 * Moves the staged tree `src` into the existing folder `dst`: new names by one rename each (a whole
 * folder at once), existing folders by descending into them (opened without following links).
 * Without `force` a file is linked into place, which fails rather than replace a file that appeared.
 */
function merge(src: Dir, dst: Dir, force: boolean): void {
  for (const name of fsCall(src.shown, () => readdirSync(src.at(".")))) {
    const shown = join(dst.shown, name);
    const s = fsCall(shown, () => lstatSync(src.at(name)));
    const d = lstatOrNull(dst.at(name), shown);
    if (d === null) {
      fsCall(shown, () => {
        if (s.isDirectory() || force) renameSync(src.at(name), dst.at(name));
        else {
          linkOrRename(src.at(name), dst.at(name));
        }
      });
      continue;
    }
    checkExisting(d, shown, s.isDirectory(), force);
    if (!s.isDirectory()) {
      fsCall(shown, () => renameSync(src.at(name), dst.at(name)));
      continue;
    }
    const from = fsCall(shown, () => openDirAt(src, name));
    try {
      const to = fsCall(shown, () => {
        try {
          return openDirAt(dst, name);
        } catch (e) {
          if (errno(e) === "ELOOP" || errno(e) === "ENOTDIR") refuseLink(shown);
          throw e;
        }
      });
      try {
        merge(from, to, force);
      } finally {
        to.close();
      }
    } finally {
      from.close();
    }
  }
}

/** A no-replace move of a file: `link` fails on an existing name; file systems without links rename. */
function linkOrRename(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch (e) {
    const code = errno(e);
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EMLINK") throw e;
    if (lstatOrNull(to, to) !== null) throw e;
    renameSync(from, to);
    return;
  }
  unlinkSync(from);
}

/** Puts a plan's staged tree in place. */
function moveIntoPlace(p: Plan, force: boolean): void {
  const staging = p.staging as Dir;
  const tree = p.tree as Dir;
  if (p.missing.length === 0) {
    merge(tree, { ...p.base, shown: p.target.outDir }, force);
    return;
  }
  const first = p.missing[0] as string;
  const shown = join(p.basePath, first);
  const now = lstatOrNull(p.base.at(first), shown);
  if (now === null) {
    fsCall(p.target.outDir, () => renameSync(staging.at("tree"), p.base.at(first)));
    return;
  }
  // Made meanwhile (another output of this run, or another process): merge into it, links refused.
  if (!now.isDirectory()) checkExisting(now, shown, true, force);
  const to = fsCall(shown, () => openDirAt(p.base, first));
  try {
    merge(tree, to, force);
  } finally {
    to.close();
  }
}

function cleanUp(p: Plan): void {
  p.tree?.close();
  p.staging?.close();
  if (p.stagingName !== undefined) {
    try {
      rmSync(p.base.at(p.stagingName), { recursive: true, force: true });
    } catch {}
    forgetTemp(join(p.basePath, p.stagingName));
  }
  p.base.close();
}

/** What `join(outDir, rel)` starts with for a checked relative `rel`: computed once per output. */
function shownPrefix(outDir: string): string {
  const n = normalize(outDir);
  return n === "." ? "" : n.endsWith("/") ? n : `${n}/`;
}

/** Refuses an item path that could leave the output folder (checked before the item is written). */
function checkPath(rel: string): void {
  const parts = rel.split("/");
  if (parts.some((s) => s === "" || s === "." || s === ".."))
    fail("format", `refusing to write outside the output folder: ${rel}`);
}

/**
 * Extracts several outputs (e.g. payload and meta/ folders) all or nothing: conflicts (links, files
 * in the way, existing files without `force`) are refused before anything is written, every entry
 * is staged and verified (item paths that could leave the folder refused on the way), and only then
 * is anything moved into the output folders.
 */
export async function extractAll(
  capsule: Capsule,
  targets: ExtractTarget[],
  options: ExtractOptions = {},
): Promise<void> {
  const force = options.force ?? false;
  const plans: Plan[] = [];
  try {
    for (const t of targets) plans.push(await plan(t, force));
    for (const p of plans) makeStaging(p);
    for (const p of plans) await stageItems(capsule, p, options);
    for (const p of plans) moveIntoPlace(p, force);
  } finally {
    for (const p of plans) cleanUp(p);
  }
}

/** Extracts `items` into `outDir`: `extractAll` with one output. */
export function extract(
  capsule: Capsule,
  items: ExtractItem[],
  outDir: string,
  options: ExtractOptions = {},
): Promise<void> {
  return extractAll(capsule, [{ items, outDir }], options);
}
