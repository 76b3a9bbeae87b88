"""Q-Cap capsules (format version 2): open, verify, read and pack `.qcap` files.

    import qcap
    with qcap.open("data.qcap", identity=open("me.key").read()) as cap:
        for e in cap.entries():
            print(e.name, e.size)
        data = cap.read("table.csv")        # payload/table.csv, every byte verified
"""

from .errors import AuthorizationError, FormatError, QcapError, VerificationError
from .reader import Capsule, Entry, open
from .writer import pack

__all__ = [
    "open", "pack", "Capsule", "Entry",
    "QcapError", "FormatError", "VerificationError", "AuthorizationError",
    "QcapFileSystem",
]


def __getattr__(name: str):
    if name == "QcapFileSystem":
        from .fs import QcapFileSystem

        return QcapFileSystem
    raise AttributeError(name)
