/**
 * Folders held open by descriptor, so that names inside them are resolved from the folder itself
 * and not again from a path another user could change in between (the `openat` idea in Node, which
 * has no `openat`). On Linux a name inside a held folder is reached through `/proc/self/fd/N/name`:
 * the kernel starts from the open folder, wherever it is now, and a symbolic link swapped in for it
 * is never followed. Where `/proc/self/fd` does not exist, names are joined to the folder's path and
 * only the `O_NOFOLLOW` opens and `lstat` checks guard them.
 */
import { closeSync, constants, existsSync, openSync } from "node:fs";
import { join } from "node:path";

const FD_ROOT = existsSync("/proc/self/fd") ? "/proc/self/fd" : null;

/** Whether names are resolved from the open folder (Linux) rather than from its path. */
export const resolvesFromHandle = FD_ROOT !== null;

export interface Dir {
  readonly fd: number;
  /** The folder's path as the user named it, for messages. */
  readonly shown: string;
  /** A path naming `name` (one component or a `/`-separated relative path) inside this folder. */
  at(name: string): string;
  close(): void;
}

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

function handle(fd: number, path: string, shown: string): Dir {
  let open = true;
  return {
    fd,
    shown,
    at: (name) => (FD_ROOT ? `${FD_ROOT}/${fd}/${name}` : join(path, name)),
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

/**
 * Opens the folder at `path`; a symbolic link in its last component is refused (ELOOP/ENOTDIR)
 * unless `followLink`.
 */
export function openDir(path: string, shown = path, followLink = false): Dir {
  const flags = followLink ? DIR_FLAGS & ~constants.O_NOFOLLOW : DIR_FLAGS;
  return handle(openSync(path, flags), path, shown);
}

/** Opens the folder `name` inside `dir` without following a symbolic link named `name`. */
export function openDirAt(dir: Dir, name: string): Dir {
  return handle(openSync(dir.at(name), DIR_FLAGS), dir.at(name), join(dir.shown, name));
}
