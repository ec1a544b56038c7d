"""The one error type for "this row, file, medium or answer is bad, and why": it becomes a quarantine row.

`reason` is a short machine-readable code (missing_media, bad_json, wrong_type, ...), `detail` says what and where.
The subclasses only say how far the damage reaches, so callers can catch a row's problem without catching a file's.
"""

from __future__ import annotations


class Rejected(Exception):
    """Something that cannot be taken in; `reason` and `detail` are what quarantine records."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class RowError(Rejected):
    """One row of a data file."""


class FileError(Rejected):
    """A whole data file (missing, not a known format, unreadable, missing columns)."""


class MediaError(Rejected):
    """One media reference (path_escape, missing_media, corrupt_media, bad_media_ref)."""


class UserError(Exception):
    """An expected failure caused by what the user gave (a missing warehouse, a bad config key, a wrong path).

    The CLI prints its message as one line and exits with status 2, without a traceback.
    """
