"""`python -m qcap`: verify, inspect, cat and open, with the exit codes of the qcap CLI (SPEC §10):
0 success, 1 verification, decryption or authorization failure, 2 usage or input error."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import crypto
from .errors import QcapError
from .reader import Capsule
from .reader import open as open_capsule
from .writeback import write_blocks


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _Usage(message)


def _key_arg(value: str) -> Any:
    return Path(value) if os.path.exists(value) else value


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m qcap", description="Verify, inspect and read .qcap capsules (format 2).")
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp: argparse.ArgumentParser, keys: bool = True) -> None:
        sp.add_argument("capsule", help="capsule file or http(s) URL")
        sp.add_argument("--trust", action="append", metavar="KEY", help="pinned Ed25519 public key (hex, PEM or key file)")
        sp.add_argument("--json", action="store_true", help="machine-readable output")
        if keys:
            sp.add_argument("-i", "--identity", action="append", metavar="FILE", help="age identity or Q-Cap key file")
            sp.add_argument("--passphrase", action="store_true", help="open with a passphrase (QCAP_PASSPHRASE or prompt)")
            sp.add_argument("--cap", metavar="FILE", help="a grant (cap.json) for the identity given with -i")
            sp.add_argument("--purpose", help="the purpose declared to use the grant")
            sp.add_argument("--revocations", metavar="FILE|URL", help="a signed revocation list")

    common(sub.add_parser("verify", help="check the signature and every byte"))
    common(sub.add_parser("inspect", help="show the signed header and the entry list"), keys=False)
    c = sub.add_parser("cat", help="write one entry (or a byte range of it) to standard output")
    common(c)
    c.add_argument("name", help="entry name (payload/… or meta/…)")
    c.add_argument("--offset", type=int, default=0)
    c.add_argument("--length", type=int, default=None)
    o = sub.add_parser("open", help="verify, decrypt and extract the payload into a folder")
    common(o)
    o.add_argument("-o", "--out", required=True, help="output folder")
    o.add_argument("--meta-out", help="also write the public meta/ entries into this folder")
    o.add_argument("--force", action="store_true", help="replace existing files")
    return p


def _open(args: argparse.Namespace) -> Capsule:
    identity = [Path(i) for i in args.identity] if getattr(args, "identity", None) else None
    passphrase = None
    if getattr(args, "passphrase", False):
        passphrase = os.environ.get("QCAP_PASSPHRASE") or getpass.getpass("passphrase: ")
    trust = [_key_arg(t) for t in args.trust] if args.trust else None
    grant = getattr(args, "cap", None)
    revocations = getattr(args, "revocations", None)
    return open_capsule(args.capsule, identity=identity, passphrase=passphrase, trust=trust,
                        grant=Path(grant) if grant else None, purpose=getattr(args, "purpose", None),
                        revocations=revocations if revocations and "://" in revocations else (Path(revocations) if revocations else None))


def _signer(cap: Capsule, pinned: bool) -> dict[str, Any]:
    return {"publicKey": cap.issuer.hex(), "fingerprint": crypto.kid(cap.issuer), "pinned": "trust" if pinned else None}


def _escape(s: str) -> str:
    import unicodedata

    out = []
    for ch in s:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
            o = ord(ch)
            out.append(f"\\x{o:02x}" if o < 0x100 else (f"\\u{o:04x}" if o < 0x10000 else f"\\u{{{o:x}}}"))
        else:
            out.append(ch)
    return "".join(out)


def _cmd_verify(args: argparse.Namespace) -> int:
    with _open(args) as cap:
        report = cap.verify()
        report["signer"] = _signer(cap, bool(args.trust))
        if args.json:
            print(json.dumps({"ok": True, **report}))
        else:
            print(f"OK {_escape(args.capsule)}: signature and {report['entries']} entries verified")
            print(f"root   {report['root']}")
            print(f"issuer {report['issuer']} (fingerprint {crypto.kid(cap.issuer)}"
                  f"{', pinned by --trust' if args.trust else ', not pinned'})")
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    with _open(args) as cap:
        entries = list(cap.entries())
        if args.json:
            print(json.dumps({"manifest": cap.manifest, "entries": [e.__dict__ for e in entries]}))
            return 0
        seal = cap.seal
        print(f"capsule  {_escape(args.capsule)} (format {cap.version}, {cap.source.size} bytes)")
        print(f"issuer   {cap.issuer.hex()}")
        print(f"root     {cap.root.hex()}")
        print("sealed   " + ("no" if not seal else "yes" + (", names hidden" if cap.hidden else "")))
        for s in seal["recipients"] if seal else []:
            print(f"recipient {s['type']} {s.get('kid', '')}".rstrip())
        print(f"entries  {len(entries)}")
        for e in entries:
            print(f"  {'x' if e.mode == 493 else '-'} {e.size:12d}  {_escape(e.zip_name)}")
    return 0


def _cmd_cat(args: argparse.Namespace) -> int:
    if args.offset < 0 or (args.length is not None and args.length < 0):
        raise _Usage("--offset and --length must not be negative")
    with _open(args) as cap:
        out = sys.stdout.buffer
        for block in cap.iter_read(args.name, args.offset, args.length):
            out.write(block)
        out.flush()
    return 0


def _staging_parent(target: Path) -> Path:
    p = target
    while not p.exists():
        p = p.parent
    return p


def _write_tree(cap: Capsule, staging: Path, prefix: str) -> int:
    from .names import CollisionGuard, check_content_name

    count = 0
    guard = CollisionGuard()
    for e in cap.entries():
        if e.name is not None:
            check_content_name(e.name)
            guard.add(e.name)
        name = e.name
        if name is None or not name.startswith(prefix):
            continue
        if cap.grant is not None and e.encrypted and e.zip_name not in cap.grant.entries:
            continue  # a grant opens its own entries only
        rel = name[len(prefix) :]
        dest = staging.joinpath(*rel.split("/"))
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                     0o777 if e.mode == 493 else 0o666)
        with os.fdopen(fd, "wb") as f:
            write_blocks(cap.iter_read(name), f)
        count += 1
    return count


def _check_targets(staging: Path, target: Path, force: bool) -> None:
    for src in staging.rglob("*"):
        dest = target / src.relative_to(staging)
        if dest.is_symlink():
            raise QcapError(f"{dest}: a symbolic link is in the way")
        if src.is_dir() and dest.exists() and not dest.is_dir():
            raise QcapError(f"{dest}: a file is where a folder is needed")
        if src.is_file() and dest.exists() and (dest.is_dir() or not force):
            raise QcapError(f"{dest}: already exists (use --force to replace files)")


def _move(staging: Path, target: Path, force: bool) -> None:
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staging, target)
        return
    for src in sorted(staging.iterdir()):
        dest = target / src.name
        if src.is_dir() and dest.is_dir():
            _move(src, dest, force)
        elif force:
            os.replace(src, dest)
        elif src.is_dir():
            os.rename(src, dest)
        else:
            os.link(src, dest)  # fails rather than replace a file that appeared meanwhile
            os.unlink(src)


def _extract(cap: Capsule, prefix: str, out: str, force: bool) -> int:
    target = Path(out)
    parent = _staging_parent(target.parent if not target.exists() else target)
    staging = Path(tempfile.mkdtemp(prefix=".qcap-open-", dir=parent))
    try:
        inner = staging / "t"
        inner.mkdir()
        n = _write_tree(cap, inner, prefix)
        _check_targets(inner, target, force)
        _move(inner, target, force)
        return n
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _cmd_open(args: argparse.Namespace) -> int:
    with _open(args) as cap:
        if cap.sealed and not cap.unlocked and cap.grant is None:
            from .errors import AuthorizationError

            raise AuthorizationError("the capsule is sealed: give an identity (-i) or --passphrase")
        n = _extract(cap, "payload/", args.out, args.force)
        m = _extract(cap, "meta/", args.meta_out, args.force) if args.meta_out else 0
        if args.json:
            print(json.dumps({"files": n, "metaFiles": m, "root": cap.root.hex(), "signer": _signer(cap, bool(args.trust))}))
        else:
            print(f"opened {n} files into {_escape(args.out)} (root {cap.root.hex()})")
        _report_signer(cap, bool(args.trust))
    return 0


def _report_signer(cap: Capsule, pinned: bool) -> None:
    """The signer line on stderr, as `qcap open` writes it: a warning when no key was pinned."""
    who = f"signer {cap.issuer.hex()} (fingerprint {crypto.kid(cap.issuer)})"
    if pinned:
        print(f"qcap: {who}, pinned by --trust", file=sys.stderr)
    else:
        print(f"qcap: warning: {who} is not pinned: anyone can sign a capsule; pass --trust", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        args = _parser().parse_args(argv)
        return {"verify": _cmd_verify, "inspect": _cmd_inspect, "cat": _cmd_cat, "open": _cmd_open}[args.cmd](args)
    except _Usage as e:
        print(f"qcap: {e}", file=sys.stderr)
        return 2
    except QcapError as e:
        print(f"qcap: {_escape(str(e))}", file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:
        return 0
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        print(f"qcap: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # never a stack trace: an unexpected failure is reported on one line
        print(f"qcap: {_escape(type(e).__name__ + ': ' + str(e))}", file=sys.stderr)
        return 2
