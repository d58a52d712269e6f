"""Errors raised by ceremonies; messages name the file and the field."""

from __future__ import annotations

from appliance.errors import ApplianceError, BadRequest, Conflict, ErrorKind


class InvalidCeremony(BadRequest):
    """The ceremony file (or an input it names) is wrong; nothing was done."""


class OutputExists(Conflict):
    """An output file already exists; ceremonies never overwrite."""


class LintFailed(ApplianceError):
    """What the HSM produced does not pass the checks; nothing was written."""

    kind = ErrorKind.INTERNAL


class TranscriptInvalid(Conflict):
    """A transcript's hash chain or the outputs it records do not match."""
