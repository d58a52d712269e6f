"""The ceremony transcript: JSON lines, each entry chained to the one before.

Every entry carries ``prev`` (the previous entry's ``hash``, zeros for the
first) and ``hash``, the SHA-256 of the entry's canonical JSON without
``hash``. Editing, inserting or removing an entry breaks the chain; removing
the *last* entries is caught by comparing the head hash with the one written
down at the ceremony (``verify_transcript(..., expected_head=...)``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.ceremony.errors import TranscriptInvalid

GENESIS = "0" * 64


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def entry_hash(entry: dict[str, Any]) -> str:
    """The hash of an entry: SHA-256 of its canonical JSON without the ``hash`` field."""
    return hashlib.sha256(_canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def recorded_path(path: Path, transcript: Path) -> str:
    """An output path as the transcript records it: relative to the transcript's folder if inside it."""
    absolute = path.resolve()
    try:
        return str(absolute.relative_to(transcript.resolve().parent))
    except ValueError:
        return str(absolute)


def _entries(transcript: Path) -> list[dict[str, Any]]:
    entries = []
    for number, line in enumerate(transcript.read_text().splitlines(), start=1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise TranscriptInvalid(f"{transcript}:{number}: not a JSON entry") from None
        if not isinstance(entry, dict):
            raise TranscriptInvalid(f"{transcript}:{number}: not a JSON object")
        entries.append(entry)
    return entries


def append_entry(transcript: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """Chain ``entry`` to the transcript's last entry and append it (under a file lock)."""
    fd = os.open(transcript, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    with os.fdopen(fd, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        lines = f.read().splitlines()
        prev = json.loads(lines[-1])["hash"] if lines else GENESIS
        chained = {**entry, "seq": len(lines) + 1, "prev": prev}
        chained["hash"] = entry_hash(chained)
        f.write(_canonical(chained).decode() + "\n")
        f.flush()
        os.fsync(f.fileno())
    return chained


@dataclass(frozen=True)
class TranscriptSummary:
    entries: int
    outputs: int
    head: str


def _check_outputs(transcript: Path, number: int, entry: dict[str, Any]) -> int:
    outputs = entry.get("outputs", [])
    for output in outputs:
        path = Path(output["path"])
        path = path if path.is_absolute() else transcript.resolve().parent / path
        if not path.is_file():
            raise TranscriptInvalid(f"{transcript}:{number}: output {output['path']} is missing")
        if file_sha256(path) != output["sha256"]:
            raise TranscriptInvalid(f"{transcript}:{number}: output {output['path']} does not match its recorded hash")
    return len(outputs)


def verify_transcript(
    transcript: Path, *, expected_head: str | None = None, check_outputs: bool = True
) -> TranscriptSummary:
    """Check the hash chain and (unless told not to) that every recorded output on disk
    still has its hash."""
    if not transcript.is_file():
        raise TranscriptInvalid(f"{transcript}: no such transcript")
    prev, outputs = GENESIS, 0
    entries = _entries(transcript)
    for number, entry in enumerate(entries, start=1):
        if entry.get("seq") != number:
            raise TranscriptInvalid(f"{transcript}:{number}: entry out of sequence (an entry was removed or moved)")
        if entry.get("prev") != prev:
            raise TranscriptInvalid(f"{transcript}:{number}: does not chain to the entry before it")
        if entry.get("hash") != entry_hash(entry):
            raise TranscriptInvalid(f"{transcript}:{number}: entry was altered (its hash does not match)")
        if check_outputs:
            outputs += _check_outputs(transcript, number, entry)
        prev = entry["hash"]
    if expected_head is not None and prev != expected_head.lower():
        raise TranscriptInvalid(f"{transcript}: head hash {prev} is not the expected {expected_head}")
    return TranscriptSummary(entries=len(entries), outputs=outputs, head=prev)
