"""Options and helpers shared by the command modules."""

from __future__ import annotations

import os
from pathlib import Path

import click

from appliance.errors import BadRequest


def read_password_file(path: str | None) -> bytes | None:
    """The first line of a password file, without its line ending."""
    if path is None:
        return None
    try:
        return Path(path).read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise BadRequest(f"cannot read password file {path}: {exc.strerror}") from None


password_file_option = click.option(
    "--password-file",
    type=click.Path(dir_okay=False),
    help="File whose first line is the password (softkms keys) or PIN.",
)


def default_path() -> str:
    """The CA's directory: $APPLIANCE_PATH, else ~/.appliance (step-ca's $STEPPATH)."""
    return os.environ.get("APPLIANCE_PATH") or str(Path.home() / ".appliance")


ca_config_option = click.option("--ca-config", type=click.Path(dir_okay=False),
                                help="The CA's ca.json (default: defaults.json's ca-config, or config/ca.json).")
