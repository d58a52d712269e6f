"""Fixtures shared by every test package: SoftHSM2 tokens and openssl checks."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
_token_numbers = itertools.count(1)


def pytest_configure(config: pytest.Config) -> None:
    """SoftHSM2 reads SOFTHSM2_CONF once, when the module is first initialised
    in this process: point it at a private token directory before any test runs."""
    base = Path(config.rootpath) / ".pytest-softhsm" / str(os.getpid())
    tokens = base / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(Path(config.rootpath) / ".pytest-softhsm" / str(os.getpid()), ignore_errors=True)


@dataclass(frozen=True)
class SoftHSMToken:
    """A SoftHSM2 token made for a test; ``kms_uri`` opens it with its user PIN."""

    label: str
    pin: str
    so_pin: str
    module: str = SOFTHSM_MODULE

    @property
    def kms_uri(self) -> str:
        return f"pkcs11:module-path={self.module};token={self.label}?pin-value={self.pin}"


def init_softhsm_token(label: str, pin: str = "1234", so_pin: str = "5678") -> SoftHSMToken:
    """Initialise a new SoftHSM2 token in the private token directory."""
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin],
        check=True, capture_output=True,
    )
    return SoftHSMToken(label=label, pin=pin, so_pin=so_pin)


@pytest.fixture
def softhsm_token() -> Iterator[SoftHSMToken]:
    """A fresh SoftHSM2 token for one test."""
    if not Path(SOFTHSM_MODULE).exists():
        pytest.fail("SoftHSM2 is not installed: run scripts/test.sh (it installs softhsm2)")
    yield init_softhsm_token(f"test-{os.getpid()}-{next(_token_numbers)}")


def run_openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run openssl; fail the test with its output if it exits non-zero."""
    result = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"openssl {' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def openssl() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_openssl
