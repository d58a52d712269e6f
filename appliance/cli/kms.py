"""``appliance kms ...``: create keys, read public keys, sign and attest (like step-kms-plugin)."""

from __future__ import annotations

import base64
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization

from appliance.errors import BadRequest
from appliance.kms import Attester, KeyManager, KeyType, SignatureAlgorithm, open_key_manager, parse_uri
from appliance.cli.options import key_type_options, password_file_option, read_password_file


def _open(key_uri: str, kms_uri: str | None, password_file: str | None) -> KeyManager:
    """The backend from ``--kms``, or from the key URI's scheme when ``--kms`` is absent."""
    backend = kms_uri or f"{parse_uri(key_uri, default_scheme='softkms').scheme}:"
    return open_key_manager(backend, password=read_password_file(password_file))


def _pem(public_key: object) -> str:
    return public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


kms_option = click.option("--kms", "kms_uri", help="The KMS URI: module path, token, region, vault, PIN source...")


@click.group()
def kms() -> None:
    """Keys in an HSM, a cloud KMS, a YubiKey or on disk, named by URI."""


@kms.command()
@click.argument("key_uri")
@kms_option
@key_type_options
@password_file_option
def create(key_uri: str, kms_uri: str | None, kty: str, crv: str | None, size: int | None, password_file: str | None) -> None:
    """Create a key pair and print its public key as PEM."""
    key_type = KeyType.parse(kty, crv, size)
    with _open(key_uri, kms_uri, password_file) as manager:
        created = manager.create_key(key_uri, key_type)
    click.echo(_pem(created.public_key), nl=False)


@kms.command()
@click.argument("key_uri")
@kms_option
@password_file_option
def key(key_uri: str, kms_uri: str | None, password_file: str | None) -> None:
    """Print the public key as PEM."""
    with _open(key_uri, kms_uri, password_file) as manager:
        click.echo(_pem(manager.get_public_key(key_uri)), nl=False)


@kms.command()
@click.argument("key_uri")
@kms_option
@click.option("--in", "in_file", required=True, type=click.Path(exists=True, dir_okay=False), help="The file to sign.")
@click.option("--alg", help="ES256, ES384, RS256, PS256, EdDSA or ML-DSA-44/65/87 (default: from the key).")
@password_file_option
def sign(key_uri: str, kms_uri: str | None, in_file: str, alg: str | None, password_file: str | None) -> None:
    """Sign a file and print the base64 signature (DER for ECDSA)."""
    data = Path(in_file).read_bytes()
    with _open(key_uri, kms_uri, password_file) as manager:
        signer = manager.create_signer(key_uri)
        algorithm = SignatureAlgorithm.parse(alg) if alg else SignatureAlgorithm.default_for(signer)
        signature = algorithm.sign(signer, data)
    click.echo(base64.b64encode(signature).decode())


@kms.command()
@click.argument("key_uri")
@kms_option
@password_file_option
def attest(key_uri: str, kms_uri: str | None, password_file: str | None) -> None:
    """Print the key's attestation chain as PEM (YubiKey)."""
    with _open(key_uri, kms_uri, password_file) as manager:
        if not isinstance(manager, Attester):
            raise BadRequest(f"the {manager.scheme}: backend cannot attest keys")
        chain = manager.attest(key_uri)
    for certificate in chain:
        click.echo(certificate.public_bytes(serialization.Encoding.PEM).decode(), nl=False)
