"""A SoftHSM2 token's files, to take the token away from every process and give it back."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator


def token_directory(label: str) -> Path:
    """The directory of the SoftHSM2 token labelled ``label`` (in the test's SOFTHSM2_CONF)."""
    tokens = Path(os.environ["SOFTHSM2_CONF"]).parent / "tokens"
    for directory in tokens.iterdir():
        if label.encode().ljust(32, b" ") in (directory / "token.object").read_bytes():
            return directory
    raise AssertionError(f"no SoftHSM2 token directory for '{label}'")


class TokenAway:
    """The token's directory moved aside (as a pulled HSM) and back."""

    def __init__(self, label: str, parking: Path) -> None:
        self.directory = token_directory(label)
        self.parking = parking / "token-away"
        self.away = False

    def take(self) -> None:
        shutil.move(self.directory, self.parking)
        self.away = True

    def give_back(self) -> None:
        if self.away:
            shutil.move(self.parking, self.directory)
            self.away = False


@contextlib.contextmanager
def token_away(label: str, parking: Path) -> Iterator[TokenAway]:
    """Take the token away for the block (given back even if the block fails)."""
    away = TokenAway(label, parking)
    away.take()
    try:
        yield away
    finally:
        away.give_back()
