"""``appliance certificate ...``: inspect, fingerprint and verify certificate files."""

from __future__ import annotations

import json
from pathlib import Path

import click

from appliance.client.describe import describe, render_text
from appliance.client.files import fingerprint as sha256_fingerprint
from appliance.client.files import load_certificates
from appliance.client.verify import verify_chain

crt_argument = click.argument("crt_file", type=click.Path(exists=True, dir_okay=False))
bundle_option = click.option("--bundle", is_flag=True, help="Every certificate in the file, not only the first.")


@click.group()
def certificate() -> None:
    """Look at and check X.509 certificates (PEM bundles or DER)."""


@certificate.command()
@crt_argument
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@bundle_option
def inspect(crt_file: str, output: str, bundle: bool) -> None:
    """Print a certificate's fields."""
    certificates = load_certificates(Path(crt_file))
    described = [describe(c) for c in (certificates if bundle else certificates[:1])]
    if output == "json":
        click.echo(json.dumps(described if bundle else described[0], indent=2))
    else:
        click.echo("".join(render_text(d) for d in described), nl=False)


@certificate.command()
@crt_argument
@bundle_option
def fingerprint(crt_file: str, bundle: bool) -> None:
    """Print the SHA-256 fingerprint (hex) of the certificate."""
    certificates = load_certificates(Path(crt_file))
    for item in certificates if bundle else certificates[:1]:
        click.echo(sha256_fingerprint(item))


@certificate.command()
@crt_argument
@click.option("--roots", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The trusted root certificate(s), a PEM bundle.")
@click.option("--host", help="Check the certificate as a TLS server certificate for this name.")
def verify(crt_file: str, roots: str, host: str | None) -> None:
    """Verify CRT_FILE (leaf, then intermediates) up to one of the roots; silent when it does."""
    verify_chain(load_certificates(Path(crt_file)), load_certificates(Path(roots)), host=host)
