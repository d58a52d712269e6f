"""Options and helpers shared by the command modules."""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from appliance.client.admin import AdminSession, load_admin_credential, request_admin_credential
from appliance.client.settings import ClientPaths, resolve
from appliance.errors import BadRequest

F = Callable[..., Any]


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


def key_type_options(function: F) -> F:
    """``--kty/--crv/--size``, as ``KeyType.parse`` reads them."""
    options = [
        click.option("--kty", type=click.Choice(["EC", "RSA", "OKP", "ML-DSA", "ML-DSA-44", "ML-DSA-65", "ML-DSA-87"],
                                                case_sensitive=False), default="EC", show_default=True,
                     help="Key type; ML-DSA is FIPS 204 (ML-DSA-65 unless --crv or the name says 44 or 87)."),
        click.option("--crv", help="P-256 (default), P-384, Ed25519, or an ML-DSA parameter set."),
        click.option("--size", type=int, help="RSA key size: 2048, 3072 (default) or 4096."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def default_path() -> str:
    """The CA's directory: $APPLIANCE_PATH, else ~/.appliance (step-ca's $STEPPATH)."""
    return os.environ.get("APPLIANCE_PATH") or str(Path.home() / ".appliance")


ca_config_option = click.option("--ca-config", type=click.Path(dir_okay=False),
                                help="The CA's ca.json (default: defaults.json's ca-config, or config/ca.json).")


@dataclass(frozen=True)
class AdminOptions:
    """How to reach the admin API and prove an admin: ``--admin-cert``/``--admin-key``, or
    ``--admin-subject``/``--admin-provisioner`` (a certificate asked of the CA with a JWK token)."""

    cert: str | None = None
    key: str | None = None
    subject: str | None = None
    provisioner: str | None = None
    password_file: str | None = None
    ca_url: str | None = None
    root: str | None = None

    @property
    def given(self) -> bool:
        """Whether any admin credential was named (the command then works remotely)."""
        return bool(self.cert or self.key or self.subject or self.provisioner)


_ADMIN_OPTIONS = [
    click.option("--admin-cert", type=click.Path(exists=True, dir_okay=False),
                 help="Remote management: the admin certificate (and chain) that signs admin tokens."),
    click.option("--admin-key", type=click.Path(exists=True, dir_okay=False), help="The key of --admin-cert."),
    click.option("--admin-subject", help="Remote management: the admin subject to get a certificate for "
                                         "(with --admin-provisioner, a JWK provisioner; default subject: step)."),
    click.option("--admin-provisioner", help="The JWK provisioner that authenticates --admin-subject."),
    click.option("--admin-password-file", type=click.Path(exists=True, dir_okay=False),
                 help="The password of --admin-key, or of --admin-provisioner's key."),
    click.option("--ca-url", help="The CA's URL (default: defaults.json)."),
    click.option("--root", type=click.Path(dir_okay=False), help="The pinned root certificate (default: defaults.json)."),
]
_ADMIN_FIELDS = {"admin_cert": "cert", "admin_key": "key", "admin_subject": "subject",
                 "admin_provisioner": "provisioner", "admin_password_file": "password_file", "ca_url": "ca_url",
                 "root": "root"}


def admin_options(command: F) -> F:
    """The options of ``AdminOptions``, handed to the command as ``admin_api``."""

    @functools.wraps(command)
    def with_admin(**values: Any) -> Any:
        return command(admin_api=AdminOptions(**{ours: values.pop(flag) for flag, ours in _ADMIN_FIELDS.items()}),
                       **values)

    for option in reversed(_ADMIN_OPTIONS):
        with_admin = option(with_admin)
    return with_admin


@contextlib.contextmanager
def admin_session(options: AdminOptions) -> Iterator[AdminSession]:
    """An admin API session with the credential ``options`` name."""
    settings = resolve(ClientPaths.at(default_path()), options.ca_url, options.root)
    password = read_password_file(options.password_file)
    if (options.cert is None) != (options.key is None):
        raise BadRequest("--admin-cert and --admin-key go together")
    with settings.client() as client:
        if options.cert and options.key:
            credential = load_admin_credential(Path(options.cert), Path(options.key), password)
        else:
            if not options.provisioner:
                raise BadRequest("pass --admin-cert and --admin-key, or --admin-provisioner (and --admin-subject)")
            if password is None:
                password = click.prompt(f"Password of provisioner '{options.provisioner}'", hide_input=True,
                                        err=True).encode()
            credential = request_admin_credential(client, settings, options.subject or "step", options.provisioner,
                                                  password)
        yield AdminSession(client, credential)
