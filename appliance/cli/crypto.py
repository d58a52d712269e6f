"""``appliance crypto ...``: operations on key files."""

from __future__ import annotations

from pathlib import Path

import click

from appliance.cli.options import read_password_file
from appliance.client.files import load_key_file, write_private_key
from appliance.errors import BadRequest


def _is_encrypted(path: Path) -> bool:
    try:
        return b"ENCRYPTED" in path.read_bytes()
    except OSError as exc:
        raise BadRequest(f"cannot read key {path}: {exc.strerror}") from None


@click.group()
def crypto() -> None:
    """Key files."""


@crypto.command("change-pass")
@click.argument("key_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--password-file", type=click.Path(dir_okay=False), help="File with the current password.")
@click.option("--new-password-file", type=click.Path(dir_okay=False), help="File with the new password.")
def change_pass(key_file: str, password_file: str | None, new_password_file: str | None) -> None:
    """Re-encrypt a private key under a new password (PKCS#8, AES-256), in place."""
    path = Path(key_file)
    old = read_password_file(password_file)
    if old is None and _is_encrypted(path):
        old = click.prompt("Current password", hide_input=True, err=True).encode()
    key = load_key_file(path, old)
    new = read_password_file(new_password_file)
    if new is None:
        new = click.prompt("New password", hide_input=True, confirmation_prompt=True, err=True).encode()
    if not new:
        raise BadRequest("the new password is empty: refusing to write the key unencrypted")
    write_private_key(path, key, new)
    click.echo(f"The key in {path} is now encrypted with the new password.", err=True)
