"""Typed errors; the CLI maps them to exit codes (SPEC §10)."""


class QcapError(Exception):
    """Base class of every error this package raises on purpose."""

    exit_code = 2


class FormatError(QcapError):
    """Malformed input: a capsule, key or grant that does not follow the format (exit code 2)."""

    exit_code = 2


class VerificationError(QcapError):
    """A signature, hash or layout check failed, or the signer is not trusted (exit code 1)."""

    exit_code = 1


class AuthorizationError(QcapError):
    """No key given opens the capsule or entry, or a grant does not allow it (exit code 1)."""

    exit_code = 1
