"""M-of-N SLIP-39 shares of a PIN: any M recover it, fewer do not."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.ceremony import combine_secret, split_secret
from appliance.cli.main import cli
from appliance.errors import BadRequest


@pytest.mark.parametrize("secret", [b"0001password", b"1234", "ünïcode päss".encode(), b"x" * 200])
def test_any_three_of_five_recover_the_secret(secret: bytes) -> None:
    shares = split_secret(secret, 3, 5)
    assert len(shares) == 5 and len(set(shares)) == 5
    for chosen in itertools.combinations(shares, 3):
        assert combine_secret(list(chosen)) == secret
    assert combine_secret(shares) == secret


def test_fewer_shares_than_the_threshold_fail() -> None:
    shares = split_secret(b"0001password", 3, 5)
    for chosen in itertools.combinations(shares, 2):
        with pytest.raises(BadRequest, match="cannot combine the shares"):
            combine_secret(list(chosen))


def test_shares_of_different_splits_do_not_combine() -> None:
    first, second = split_secret(b"1234", 2, 3), split_secret(b"1234", 2, 3)
    with pytest.raises(BadRequest, match="cannot combine the shares"):
        combine_secret([first[0], second[1]])


@pytest.mark.parametrize(("m", "n"), [(0, 3), (4, 3), (1, 3), (2, 17)])
def test_bad_thresholds_are_refused(m: int, n: int) -> None:
    with pytest.raises(BadRequest):
        split_secret(b"1234", m, n)


def test_cli_split_then_combine(tmp_path: Path) -> None:
    runner = CliRunner()
    secret_file = tmp_path / "pin"
    secret_file.write_text("0001password\n")
    split = runner.invoke(cli, ["ceremony", "split-secret", "-m", "2", "-n", "3", "--secret-file", str(secret_file)])
    assert split.exit_code == 0, split.output
    assert "0001password" not in split.output
    mnemonics = [line.strip() for line in split.output.splitlines() if line.startswith("  ")]
    assert len(mnemonics) == 3
    out = tmp_path / "recovered.pin"
    combined = runner.invoke(cli, ["ceremony", "combine-secret", "--out", str(out)],
                             input=f"{mnemonics[2]}\n{mnemonics[0]}\n\n")
    assert combined.exit_code == 0, combined.output
    assert out.read_text() == "0001password\n" and out.stat().st_mode & 0o777 == 0o600
    assert "0001password" not in combined.output
    again = runner.invoke(cli, ["ceremony", "combine-secret", "--out", str(out)], input=f"{mnemonics[1]}\n{mnemonics[0]}\n\n")
    assert again.exit_code == 1 and "refusing to overwrite" in again.output


def test_cli_split_prompts_for_the_secret() -> None:
    result = CliRunner().invoke(cli, ["ceremony", "split-secret", "-m", "2", "-n", "2"], input="1234\n1234\n")
    assert result.exit_code == 0, result.output
    mnemonics = [line.strip() for line in result.output.splitlines() if line.startswith("  ")]
    assert combine_secret(mnemonics) == b"1234"
