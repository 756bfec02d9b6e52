"""Errors that the CLI turns into one clear line and an exit code.

Exit codes (shared by every command):
0 ok · 1 bug · 2 usage/config · 3 data contract (e.g. leakage) · 4 upstream/API.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_BUG = 1
EXIT_USAGE = 2
EXIT_DATA = 3
EXIT_UPSTREAM = 4


class CurateError(Exception):
    """A user-facing error: the message says what is wrong and how to fix it."""

    exit_code = EXIT_USAGE
    result: dict | None = None  # what the command did before it failed: printed by `--json` (a JSON object)

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(CurateError):
    """Bad argument, missing file, unknown column: exit code 2."""

    exit_code = EXIT_USAGE


class DataContractError(CurateError):
    """The data breaks a contract (leaky split, corrupt catalog): exit code 3."""

    exit_code = EXIT_DATA


class UpstreamError(CurateError):
    """A remote service refused or failed for good: exit code 4."""

    exit_code = EXIT_UPSTREAM


# how to get past a catalog that cannot be read: ingest refuses it too, so "re-run ingest" alone did not work
# (audit AN); moved aside, the ingest builds a new one (stored images are found again by their hash)
CATALOG_FIX = ("restore it from a copy, or move it aside (mv catalog.parquet catalog.parquet.bad) and run the ingest "
               "again")
