/**
 * Build outputs named by glob patterns, as pack inputs. Names are paths relative to the common parent
 * of the patterns' search paths (as actions/upload-artifact does), under `payload/`.
 */
import { lstat, stat } from "node:fs/promises";
import { basename, dirname, relative, sep } from "node:path";
import * as glob from "@actions/glob";
import type { PackInput } from "@qcap/core";
import { directoryInputs, fileInput } from "@qcap/core/node";
import { InputError } from "./inputs.js";

const MODE_FILE = 0o644;
const MODE_EXEC = 0o755;

/** The deepest folder containing every path. */
function commonParent(paths: string[]): string {
  const split = paths.map((p) => p.split(sep));
  const first = split[0] ?? [];
  let n = first.length;
  for (const parts of split) {
    let i = 0;
    while (i < n && i < parts.length && parts[i] === first[i]) i++;
    n = i;
  }
  return first.slice(0, n).join(sep) || sep;
}

export interface FoundFiles {
  root: string;
  inputs: PackInput[];
}

/**
 * Regular files matching the patterns, except those in `skip` (the capsule and bundle themselves). Like
 * actions/upload-artifact, hidden files and folders (a name starting with `.`, at any depth below where the
 * search starts, a pattern naming one included) are left out unless `includeHidden`: `.env`, caches and the
 * `.git/config` where actions/checkout keeps its token are not build outputs.
 */
export async function findFiles(
  patterns: string[],
  skip: string[],
  includeHidden = false,
): Promise<FoundFiles> {
  const globber = await glob.create(patterns.join("\n"), {
    followSymbolicLinks: false,
    matchDirectories: false,
    implicitDescendants: true,
    excludeHiddenFiles: !includeHidden,
  });
  const searchRoots = await Promise.all(
    globber
      .getSearchPaths()
      .map(async (p) => ((await stat(p).catch(() => null))?.isDirectory() ? p : dirname(p))),
  );
  const root = commonParent(searchRoots);
  const inputs: PackInput[] = [];
  for (const path of (await globber.glob()).sort()) {
    if (skip.includes(path)) continue;
    const st = await lstat(path);
    // A link's target may lie outside the build (or change between listing and reading): refuse it.
    if (st.isSymbolicLink())
      throw new InputError(
        `cannot seal ${path}: it is a symbolic link, and links are not followed; to include what it points to, list the target's own path in paths (or copy it into the build folder), or exclude the link with !${relative(process.cwd(), path) || path}`,
      );
    if (!st.isFile()) continue;
    const name = `payload/${relative(root, path).split(sep).join("/")}`;
    inputs.push(fileInput(path, name, st.size, st.mode & 0o111 ? MODE_EXEC : MODE_FILE));
  }
  if (inputs.length === 0)
    throw new InputError(
      `no files match paths: ${patterns.join(", ")}${includeHidden ? "" : " (hidden files are left out unless include-hidden-files: true)"}`,
    );
  return { root, inputs };
}

/** Metadata from a folder (every file below it) or a single file, under `meta/`. */
export async function metaInputs(path: string): Promise<PackInput[]> {
  const st = await lstat(path).catch(() => null);
  if (!st) throw new InputError(`input meta: no such file or folder: ${path}`);
  if (st.isDirectory()) return directoryInputs(path, "meta/");
  if (!st.isFile()) throw new InputError(`input meta: not a regular file or folder: ${path}`);
  return [fileInput(path, `meta/${basename(path)}`, st.size, MODE_FILE)];
}
