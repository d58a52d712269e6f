"""``appliance ceremony ...``: offline key ceremonies on an HSM, their transcript,
and M-of-N shares of the PINs that protect the root key."""

from __future__ import annotations

import os
from pathlib import Path

import click

from appliance.ceremony import check_ceremony, combine_secret, run_ceremony, split_secret, verify_transcript
from appliance.cli.options import read_password_file
from appliance.errors import BadRequest, Conflict


def _prompt(label: str) -> str:
    """The PIN, typed without echo; never taken from argv."""
    return click.prompt(label, hide_input=True)


ceremony_file = click.argument("ceremony_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
operator_option = click.option("--operator", help="Who runs the ceremony (else the file's 'operator').")
kms_option = click.option(
    "--kms", help="Use this KMS instead of the file's hsm.kms (a rehearsal on another token); no pin-value."
)


@click.group()
def ceremony() -> None:
    """Key ceremonies on an offline HSM: key, root, intermediate, csr, cross-csr, crl."""


@ceremony.command()
@ceremony_file
@operator_option
@kms_option
def run(ceremony_file: Path, operator: str | None, kms: str | None) -> None:
    """Validate, run, lint and record one ceremony file."""
    entry = run_ceremony(ceremony_file, operator=operator, kms=kms, prompt=_prompt)
    for output in entry["outputs"]:
        click.echo(f"wrote {output['path']}  sha256:{output['sha256']}")
    click.echo(f"transcript entry {entry['seq']}: {entry['hash']}  (write this down)")


@ceremony.command()
@ceremony_file
@operator_option
@kms_option
def check(ceremony_file: Path, operator: str | None, kms: str | None) -> None:
    """Validate a ceremony file and check the HSM read-only, changing nothing."""
    checked = check_ceremony(ceremony_file, operator=operator, kms=kms, prompt=_prompt)
    click.echo(f"{ceremony_file}: valid {checked.type} ceremony, ready to run")


@ceremony.command("verify-transcript")
@click.argument("transcript", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--head", help="The last entry's hash as written down at the ceremony.")
def verify_transcript_command(transcript: Path, head: str | None) -> None:
    """Check the transcript's hash chain and that the outputs on disk match it."""
    summary = verify_transcript(transcript, expected_head=head)
    click.echo(f"{transcript}: {summary.entries} entries, {summary.outputs} outputs verified, head {summary.head}")


@ceremony.command("split-secret")
@click.option("--threshold", "-m", type=int, required=True, help="Shares needed to recover the secret.")
@click.option("--shares", "-n", type=int, required=True, help="Shares to make, one per custodian.")
@click.option("--secret-file", type=click.Path(exists=True, dir_okay=False),
              help="File whose first line is the PIN or password (else it is prompted for).")
def split_secret_command(threshold: int, shares: int, secret_file: str | None) -> None:
    """Split a PIN or password into M-of-N SLIP-39 shares."""
    secret = read_password_file(secret_file)
    if secret is None:
        secret = click.prompt("Secret to split", hide_input=True, confirmation_prompt=True).encode()
    for number, mnemonic in enumerate(split_secret(secret, threshold, shares), start=1):
        click.echo(f"share {number} of {shares} (any {threshold} recover the secret):\n  {mnemonic}\n")


def _read_shares(share_files: tuple[str, ...]) -> list[str]:
    if share_files:
        return [Path(f).read_text().strip() for f in share_files]
    shares: list[str] = []
    while True:
        share = click.prompt(f"Share {len(shares) + 1} (empty line when done)", hide_input=True,
                             default="", show_default=False)
        if not share.strip():
            return shares
        shares.append(share)


@ceremony.command("combine-secret")
@click.option("--share-file", "share_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A file holding one share (repeat); else the shares are prompted for.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the secret (mode 0600, never overwritten), e.g. the pin-source file.")
def combine_secret_command(share_files: tuple[str, ...], out: str) -> None:
    """Recover a PIN or password from M of its SLIP-39 shares."""
    secret = combine_secret(_read_shares(share_files))
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise Conflict(f"{out} exists: refusing to overwrite it") from None
    except OSError as exc:
        raise BadRequest(f"cannot write {out}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(secret + b"\n")
    click.echo(f"secret written to {out}")
