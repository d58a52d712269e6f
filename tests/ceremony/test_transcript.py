"""The transcript: every run is chained to the one before; editing, inserting
or deleting entries and changing an output on disk are all detected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.ceremony import run_ceremony, verify_transcript
from appliance.ceremony.errors import TranscriptInvalid
from appliance.ceremony.transcript import GENESIS, entry_hash
from appliance.cli.main import cli
from tests.ceremony.files import Ceremonies


@pytest.fixture
def transcript(soft_ceremonies: Ceremonies) -> Path:
    """A transcript of three runs: root key, root certificate, online key."""
    for path in soft_ceremonies.two_tier()[:3]:
        run_ceremony(path)
    return soft_ceremonies.folder / "transcript.jsonl"


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


def test_entries_record_the_ceremony(transcript: Path) -> None:
    entries = [json.loads(line) for line in _lines(transcript)]
    assert entries[0]["prev"] == GENESIS
    assert [e["prev"] for e in entries[1:]] == [e["hash"] for e in entries[:-1]]
    assert all(e["hash"] == entry_hash(e) for e in entries)
    root = entries[1]
    assert root["operator"] == "Alice Custodian" and root["outcome"] == "ok"
    assert len(root["ceremony"]["sha256"]) == 64 and root["ceremony"]["file"] == "2-root.yaml"
    assert root["public-key"]["type"] == "EC P-384" and len(root["public-key"]["sha256"]) == 64
    assert root["outputs"][0]["path"] == "root.crt"
    assert [s["step"] for s in root["steps"]] == ["sign-certificate", "lint", "write-outputs"]
    assert "openssl verify" in root["steps"][1]["checks"]
    assert "password" not in transcript.read_text().lower().replace("password-source", "")
    summary = verify_transcript(transcript)
    assert (summary.entries, summary.outputs, summary.head) == (3, 3, entries[-1]["hash"])


def test_edited_entry_is_detected(transcript: Path) -> None:
    lines = _lines(transcript)
    lines[1] = lines[1].replace("Alice Custodian", "Mallory")
    _write(transcript, lines)
    with pytest.raises(TranscriptInvalid, match=r"transcript\.jsonl:2: entry was altered"):
        verify_transcript(transcript)


def test_edited_entry_with_recomputed_hash_breaks_the_chain(transcript: Path) -> None:
    lines = _lines(transcript)
    entry = json.loads(lines[0])
    entry["operator"] = "Mallory"
    entry["hash"] = entry_hash(entry)
    lines[0] = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    _write(transcript, lines)
    with pytest.raises(TranscriptInvalid, match=r"transcript\.jsonl:2: does not chain to the entry before it"):
        verify_transcript(transcript)


def test_deleted_entry_is_detected(transcript: Path) -> None:
    lines = _lines(transcript)
    _write(transcript, lines[:1] + lines[2:])
    with pytest.raises(TranscriptInvalid, match=r"transcript\.jsonl:2: entry out of sequence"):
        verify_transcript(transcript)


def test_truncated_transcript_is_caught_by_the_written_down_head(transcript: Path) -> None:
    head = json.loads(_lines(transcript)[-1])["hash"]
    verify_transcript(transcript, expected_head=head)
    _write(transcript, _lines(transcript)[:-1])
    with pytest.raises(TranscriptInvalid, match=r"head hash .* is not the expected " + head):
        verify_transcript(transcript, expected_head=head)


def test_changed_output_is_detected(transcript: Path) -> None:
    root = transcript.parent / "root.crt"
    root.write_bytes(root.read_bytes().replace(b"\n", b"\r\n"))
    with pytest.raises(TranscriptInvalid, match=r"transcript\.jsonl:2: output root\.crt does not match its recorded hash"):
        verify_transcript(transcript)


def test_missing_output_is_detected(transcript: Path) -> None:
    (transcript.parent / "root-key.pub.pem").unlink()
    with pytest.raises(TranscriptInvalid, match=r"transcript\.jsonl:1: output root-key\.pub\.pem is missing"):
        verify_transcript(transcript)


def test_no_ceremony_appends_to_a_tampered_transcript(soft_ceremonies: Ceremonies, transcript: Path) -> None:
    lines = _lines(transcript)
    _write(transcript, lines[1:])
    intermediate = soft_ceremonies.folder / "4-intermediate.yaml"
    with pytest.raises(TranscriptInvalid):
        run_ceremony(intermediate)
    assert not (soft_ceremonies.folder / "intermediate.crt").exists()


def test_cli_verify_transcript(transcript: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["ceremony", "verify-transcript", str(transcript)])
    assert ok.exit_code == 0 and "3 entries, 3 outputs verified" in ok.output
    _write(transcript, _lines(transcript)[::-1])
    bad = runner.invoke(cli, ["ceremony", "verify-transcript", str(transcript)])
    assert bad.exit_code == 1 and "out of sequence" in bad.output
