"""``appliance audit verify|export CONFIG``: prove the audit chain of a CA's database
and its signed checkpoints; write its records as JSON lines for a SIEM."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from appliance.audit import AuditLog
from appliance.cli.options import password_file_option, read_password_file
from appliance.config import load_config
from appliance.db import open_database
from appliance.errors import BadRequest
from appliance.kms import open_key_manager


def _public_key(source: str, password: bytes | None) -> PublicKeyTypes:
    """A PEM public key or certificate file, or a KMS key URI."""
    path = Path(source)
    if path.is_file():
        data = path.read_bytes()
        if b"CERTIFICATE" in data:
            return x509.load_pem_x509_certificate(data).public_key()
        try:
            return serialization.load_pem_public_key(data)
        except ValueError:
            raise BadRequest(f"{source}: not a PEM public key or certificate") from None
    if ":" not in source:
        raise BadRequest(f"--checkpoint-key {source}: no such file, and not a KMS URI")
    with open_key_manager(source, password=password) as key_manager:
        return key_manager.get_public_key(source)


@click.group()
def audit() -> None:
    """The tamper-evident audit log in the CA's database."""


@audit.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--from", "start", type=click.IntRange(min=1), default=1, show_default=True,
              help="The first record to check (its link to the one before is taken as given).")
@click.option("--checkpoint-key", help="The key that signs checkpoints: a PEM public key or certificate, or a KMS "
                                       "URI (default: ca.json's audit.checkpointKey).")
@password_file_option
def verify(config: str, start: int, checkpoint_key: str | None, password_file: str | None) -> None:
    """Check every record's hash and link, that none is missing or added, and every checkpoint's signature."""
    loaded = load_config(Path(config), report=False)
    password = read_password_file(password_file) or (loaded.password.encode() or None)
    source = checkpoint_key or loaded.audit.checkpoint_key
    public_key = _public_key(source, password) if source else None
    database = open_database(loaded.db)
    try:
        found = AuditLog(database.transaction).verify(start=start, public_key=public_key)
    finally:
        database.close()
    for problem in found.problems:
        click.echo(f"FAIL {problem}")
    signed = "signatures checked" if public_key is not None else "signatures NOT checked (no checkpoint key)"
    click.echo(f"{'ok' if found.ok else 'FAILED'}: {found.records} records up to {found.last_seq}, "
               f"{found.checkpoints} checkpoints, {signed}")
    if not found.ok:
        sys.exit(1)


@audit.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "output_format", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.option("--from", "start", type=click.IntRange(min=1), default=1, show_default=True,
              help="The first record to write.")
def export(config: str, output_format: str, start: int) -> None:
    """Write the records (with their hashes) as one JSON object per line on stdout."""
    database = open_database(load_config(Path(config), report=False).db)
    try:
        for record in AuditLog(database.transaction).records(start):
            click.echo(json.dumps(record.to_json(), separators=(",", ":"), sort_keys=True))
    finally:
        database.close()
