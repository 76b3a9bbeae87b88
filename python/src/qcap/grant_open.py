"""Applying a grant to an opened capsule: the checks of SPEC §11.7 with revocation lists (§12)."""

from __future__ import annotations

import os
import urllib.request
from datetime import datetime
from typing import Any

from .encoding import strict_json
from .errors import FormatError
from .grants import LIST_LIMIT, check_grant, check_revocations, now_utc


def _load_list(source: Any) -> Any:
    if isinstance(source, dict):
        return source
    if isinstance(source, str) and source.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(source, timeout=60) as resp:
                length = resp.headers.get("Content-Length")
                if length is not None and int(length) > LIST_LIMIT:
                    raise FormatError(f"{source}: larger than the 16 MiB limit of revocation lists")
                body = resp.read(LIST_LIMIT + 1)
        except OSError as e:
            raise FormatError(f"{source}: {getattr(e, 'reason', e)}") from None
        if len(body) > LIST_LIMIT:
            raise FormatError(f"{source}: larger than the 16 MiB limit of revocation lists")
        return strict_json(body, source)
    if isinstance(source, str) and source.lstrip().startswith("{"):
        return strict_json(source.encode("utf-8"), "revocation list")
    path = os.fspath(source)
    if os.path.getsize(path) > LIST_LIMIT:
        raise FormatError(f"{path}: larger than the 16 MiB limit of revocation lists")
    with open(path, "rb") as f:
        return strict_json(f.read(), path)


def apply_grant(cap: Any, grant: Any, identities: list[bytes], *, purpose: str | None = None,
                revocations: Any = None, now: datetime | None = None) -> None:
    now = now or now_utc()
    revoked = (lambda: check_revocations(_load_list(revocations), cap.issuer, now)) if revocations is not None else None

    def has_entry(zip_name: str) -> bool:
        try:
            cap._lookup(zip_name)
            return True
        except KeyError:
            return False

    checked = check_grant(grant, issuer=cap.issuer, root=cap.root, capsule_id=cap.capsule_id, has_entry=has_entry,
                          identities=identities, now=now, revoked=revoked, purpose=purpose, master_key=cap._master)
    cap.grant = checked
    cap._grant_names = {e.name: e.entry for e in checked.entries.values()}
